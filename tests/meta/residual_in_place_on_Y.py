"""The residual is formed in place, ``E = Y; E -= A_L``, to save an allocation.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/residual_in_place_on_Y.py:backward``
"""

from .misbehaving import residual_in_place_on_Y as backward

__all__ = ["backward"]
