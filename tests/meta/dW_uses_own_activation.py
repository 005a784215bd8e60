"""dW^(l) formed with the layer's own activation: ``cache[f"A{l}"]`` for ``cache[f"A{l-1}"]``.

A file of its own, so the command line can name it:
``gradcheck-harness verify --candidate tests/meta/dW_uses_own_activation.py:backward``
"""

from .dict_cache import dW_uses_own_activation as backward

__all__ = ["backward"]
