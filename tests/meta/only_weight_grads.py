"""Returns [dW1, dW2, ...]: the bias gradients are left out of the result.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/only_weight_grads.py:backward``
"""

from .misbehaving import only_weight_grads as backward

__all__ = ["backward"]
