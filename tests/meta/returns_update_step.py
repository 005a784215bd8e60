"""Returns the SGD update -lr·dJ/dθ (lr = 0.1) instead of the gradient dJ/dθ.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/returns_update_step.py:backward``
"""

from .layers import returns_update_step as backward

__all__ = ["backward"]
