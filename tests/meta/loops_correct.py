"""Seed 000's chain rule, index by index, one sample at a time, averaged over samples.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/loops_correct.py:backward``
"""

from .correct import loops_correct as backward

__all__ = ["backward"]
