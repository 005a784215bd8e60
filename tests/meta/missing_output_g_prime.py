"""The output layer's delta is dJ/dA^(L) itself: g'(Z^(L)) is never applied there.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/missing_output_g_prime.py:backward``
"""

from .rows import missing_output_g_prime as backward

__all__ = ["backward"]
