"""tanh'(z) written as 1 - tanh(z) instead of 1 - tanh(z)².

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/tanh_prime_not_squared.py:backward``
"""

from .loops import tanh_prime_not_squared as backward

__all__ = ["backward"]
