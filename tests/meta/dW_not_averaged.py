"""dW without the 1/m (db has it): every weight gradient is m times too large.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/dW_not_averaged.py:backward``
"""

from .dict_cache import dW_not_averaged as backward

__all__ = ["backward"]
