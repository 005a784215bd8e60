"""The output gradient with the wrong sign: 2(y - a)/m for mse, bce's leading minus dropped.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/output_delta_sign_flipped.py:backward``
"""

from .wrong_backprops import output_delta_sign_flipped as backward

__all__ = ["backward"]
