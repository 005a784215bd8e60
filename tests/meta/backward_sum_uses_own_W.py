"""The backward sum uses W^(l) instead of W^(l+1): dJ_dA^(l) = W^(l)^T dJ_dZ^(l+1).

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/backward_sum_uses_own_W.py:backward``
"""

from .wrong_backprops import backward_sum_uses_own_W as backward

__all__ = ["backward"]
