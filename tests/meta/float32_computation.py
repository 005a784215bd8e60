"""Everything computed in float32 (a framework's default dtype), cast back to float64.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/float32_computation.py:backward``
"""

from .rows import float32_computation as backward

__all__ = ["backward"]
