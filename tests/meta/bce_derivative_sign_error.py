"""bce's dJ/da without the sigmoid simplification, and with a + on the (1 - y) term.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/bce_derivative_sign_error.py:backward``
"""

from .einsum_style import bce_derivative_sign_error as backward

__all__ = ["backward"]
