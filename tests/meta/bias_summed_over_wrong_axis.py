"""dJ_db summed over axis 0 (the units) instead of axis 1 (the samples): shape (m,).

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/bias_summed_over_wrong_axis.py:backward``
"""

from .misbehaving import bias_summed_over_wrong_axis as backward

__all__ = ["backward"]
