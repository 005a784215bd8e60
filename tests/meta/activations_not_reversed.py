"""The backward walk zips the reversed cache with the activations in forward order.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/activations_not_reversed.py:backward``
"""

from .rows import activations_not_reversed as backward

__all__ = ["backward"]
