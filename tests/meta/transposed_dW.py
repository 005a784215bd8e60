"""dJ_dW as ``A_prev @ dJ_dZ.T`` (the rows-as-samples formula), reshaped to W's shape.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/transposed_dW.py:backward``
"""

from .wrong_backprops import transposed_dW as backward

__all__ = ["backward"]
