"""Dense and activation objects with forward/backward, run by a Sequential.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/layers_correct.py:backward``
"""

from .correct import layers_correct as backward

__all__ = ["backward"]
