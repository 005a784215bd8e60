"""dW includes the weight-decay term λW of the training loop's regularized loss (λ = 1e-2).

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/l2_penalty_left_in.py:backward``
"""

from .einsum_style import l2_penalty_left_in as backward

__all__ = ["backward"]
