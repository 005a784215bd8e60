"""σ'(z) written as σ(z) instead of σ(z)(1 - σ(z)).

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/sigmoid_prime_is_sigmoid.py:backward``
"""

from .wrong_backprops import sigmoid_prime_is_sigmoid as backward

__all__ = ["backward"]
