"""A debugging pause left in: sleeps 10 s before returning the right gradient.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/hangs.py:backward``
"""

from .misbehaving import hangs as backward

__all__ = ["backward"]
