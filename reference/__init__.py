"""The reference vectorized backprop under verification (seed 001's form, any depth).

`forward` and `backward` follow seed 001's names: ``Z^(l) = W^(l) A^(l-1) + b^(l)``,
``A^(l) = g_l(Z^(l))``; backward walks from the output, ``dJ_dZ = dJ_dA ⊙ g'(Z)``,
``dJ_dW = dJ_dZ A_prev^T (+ l2·W)``, ``dJ_dB = Σ_samples dJ_dZ``, ``dJ_dA_prev = W^T dJ_dZ``.

``backward(params, X, Y, activations, loss, *, half=False, reduction="mean", l2=0.0)`` speaks
every convention of DESIGN.md: the activations sigmoid, tanh, relu, leaky_relu and
``leaky_relu(α)``, identity, softplus, elu, silu, gelu and softmax (output layer only); the losses
mse, bce (sigmoid output) and cross_entropy (softmax output) with mse's ½ (``half``), the
reductions mean / sum / elementwise_mean and L2 weight decay. Unknown names raise ValueError.

This package is what the harness verifies, so it deliberately imports nothing from ``harness``:
it has its own activations, their derivatives, its own erfc-based Φ for gelu, its own parsing of
``leaky_relu(α)`` and the losses' derivatives.
"""

from reference.backprop import backward, forward

# What the harness may ask of it (harness.support): told the convention by keywords, every
# activation (two leaky slopes besides 0.01), every loss convention, l2 0 and 1e-3 by default.
backward.supports = {  # type: ignore[attr-defined]
    "keywords": True,
    "activations": (
        "sigmoid", "tanh", "relu", "leaky_relu", "identity", "softplus", "elu", "silu", "gelu",
        "softmax", "leaky_relu(0.2)", "leaky_relu(0.3)",
    ),
}  # fmt: skip

__all__ = ["backward", "forward"]
