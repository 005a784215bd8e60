"""dJ_dB as the mean of dJ_dZ over samples, though dJ_dZ already carries the 1/m.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/bias_mean_over_samples.py:backward``
"""

from .wrong_backprops import bias_mean_over_samples as backward

__all__ = ["backward"]
