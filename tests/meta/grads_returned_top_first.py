"""The gradients are returned in the order the backward walk made them: top layer first.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/grads_returned_top_first.py:backward``
"""

from .rows import grads_returned_top_first as backward

__all__ = ["backward"]
