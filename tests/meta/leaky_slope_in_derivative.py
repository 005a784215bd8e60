"""leaky_relu'(z) for z <= 0 written as 0.1, though the forward pass uses slope 0.01.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/leaky_slope_in_derivative.py:backward``
"""

from .rows import leaky_slope_in_derivative as backward

__all__ = ["backward"]
