"""softplus'(z) written 1/(1 + e^z), i.e. σ(-z), where it is 1/(1 + e^-z) = σ(z).

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/softplus_prime_sign_error.py:backward``
"""

from .einsum_style import softplus_prime_sign_error as backward

__all__ = ["backward"]
