"""The mse gradient of ``np.mean((A - Y)**2)``: divided by m·n_L instead of m.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/mse_mean_over_outputs.py:backward``
"""

from .rows import mse_mean_over_outputs as backward

__all__ = ["backward"]
