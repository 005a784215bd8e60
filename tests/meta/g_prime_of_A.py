"""g' evaluated at the cached activation A instead of the pre-activation Z.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/g_prime_of_A.py:backward``
"""

from .wrong_backprops import g_prime_of_A as backward

__all__ = ["backward"]
