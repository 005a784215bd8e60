"""The backward sum reads w_kj instead of w_jk: ∂C/∂a_k = Σ_j ∂C/∂z_j · w_kj.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/backward_sum_uses_w_kj.py:backward``
"""

from .loops import backward_sum_uses_w_kj as backward

__all__ = ["backward"]
