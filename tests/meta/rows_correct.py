"""Samples as rows inside (X.T, W.T), transposed back to the contract at the end.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/rows_correct.py:backward``
"""

from .correct import rows_correct as backward

__all__ = ["backward"]
