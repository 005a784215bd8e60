"""The mse output gradient as (a - y)/m, the derivative of the ½(a - y)² convention.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/mse_with_half_convention.py:backward``
"""

from .wrong_backprops import mse_with_half_convention as backward

__all__ = ["backward"]
