"""dJ_dZ is ``np.squeeze``d "to tidy shapes": with one sample it loses its sample axis.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/squeeze_breaks_batch_of_one.py:backward``
"""

from .misbehaving import squeeze_breaks_batch_of_one as backward

__all__ = ["backward"]
