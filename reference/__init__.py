"""The reference vectorized backprop under verification (seed 001's form, any depth).

`forward` and `backward` follow seed 001's names: ``Z^(l) = W^(l) A^(l-1) + b^(l)``,
``A^(l) = g_l(Z^(l))``; backward walks from the output, ``dJ_dZ = dJ_dA ⊙ g'(Z)``,
``dJ_dW = dJ_dZ A_prev^T``, ``dJ_dB = Σ_samples dJ_dZ``, ``dJ_dA_prev = W^T dJ_dZ``.

This package is what the harness verifies, so it deliberately imports nothing from ``harness``:
it has its own activations, their derivatives and the losses' derivatives.
"""

from reference.backprop import backward, forward

__all__ = ["backward", "forward"]
