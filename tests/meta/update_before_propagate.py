"""Each layer updates its W before sending dJ_dA back through it.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/update_before_propagate.py:backward``
"""

from .layers import update_before_propagate as backward

__all__ = ["backward"]
