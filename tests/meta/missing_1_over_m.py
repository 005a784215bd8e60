"""The output gradient summed over samples instead of averaged: the 1/m is missing.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/missing_1_over_m.py:backward``
"""

from .wrong_backprops import missing_1_over_m as backward

__all__ = ["backward"]
