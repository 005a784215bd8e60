"""Caches and gradients in dicts keyed "Z1", "A0", "dW2"; biases as columns inside.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/dict_cache_correct.py:backward``
"""

from .correct import dict_cache_correct as backward

__all__ = ["backward"]
