"""dJ_dA^(l-1) already multiplied by g'(Z^(l-1)), then multiplied by it again as dJ_dZ.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/g_prime_applied_twice.py:backward``
"""

from .einsum_style import g_prime_applied_twice as backward

__all__ = ["backward"]
