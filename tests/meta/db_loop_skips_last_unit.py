"""The bias loop runs ``range(n_l - 1)``: the last unit's bias gradient stays 0.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/db_loop_skips_last_unit.py:backward``
"""

from .loops import db_loop_skips_last_unit as backward

__all__ = ["backward"]
