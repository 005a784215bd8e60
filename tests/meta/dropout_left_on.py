"""Gaussian dropout (rate 0.2) on the hidden layers, left on while computing the gradient.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/dropout_left_on.py:backward``
"""

from .dict_cache import dropout_left_on as backward

__all__ = ["backward"]
