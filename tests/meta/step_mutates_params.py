"""A training step fused into backward: after the gradients, W -= lr·dW in place.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/step_mutates_params.py:backward``
"""

from .layers import step_mutates_params as backward

__all__ = ["backward"]
