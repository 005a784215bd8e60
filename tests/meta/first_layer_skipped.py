"""The backward loop stops one layer early, so layer 1 keeps its zero-initialised gradient.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/first_layer_skipped.py:backward``
"""

from .wrong_backprops import first_layer_skipped as backward

__all__ = ["backward"]
