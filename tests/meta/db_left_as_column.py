"""The bias gradients are returned as the (n_l, 1) columns the dict code works with.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/db_left_as_column.py:backward``
"""

from .dict_cache import db_left_as_column as backward

__all__ = ["backward"]
