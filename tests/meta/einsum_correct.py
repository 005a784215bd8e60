"""One einsum per formula: "ji,ki->jk" for dW, "ji->j" for db, "jk,ji->ki" for dA_prev.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/einsum_correct.py:backward``
"""

from .correct import einsum_correct as backward

__all__ = ["backward"]
