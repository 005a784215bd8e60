"""The forward definition of the network function: the one thing the gradient sources may share.

Convention (DESIGN.md, seed 001): columns are samples. For layers l = 1..L,
``Z^(l) = W^(l) A^(l-1) + b^(l)`` (bias broadcast over columns), ``A^(l) = g_l(Z^(l))``,
``A^(0) = X``. The loss J is

- ``mse``: (1/m) Σ_samples Σ_outputs (a - y)²  (seed 000's C0, no ½ factor, averaged over samples);
- ``bce``: -(1/m) Σ [y log a + (1 - y) log(1 - a)] with a sigmoid output layer.

Nothing here differentiates anything. Each activation is written in a numerically stable form
(e.g. softplus as ``logaddexp(0, z)``), and bce is evaluated from Z^(L) as
``softplus(z) - y z``, which equals the definition above for a = sigmoid(z) without
rounding 1 - a to zero when the output saturates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ACTIVATIONS",
    "KINKED_ACTIVATIONS",
    "LEAKY_SLOPE",
    "LOSSES",
    "Array",
    "Params",
    "activate",
    "forward",
    "loss_value",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]

#: Slope of ``leaky_relu`` for z <= 0.
LEAKY_SLOPE: Final = 0.01


def _sigmoid(z: Array) -> Array:
    # exp of a non-positive number only: never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _tanh(z: Array) -> Array:
    return np.tanh(z)


def _relu(z: Array) -> Array:
    return np.maximum(z, 0.0)


def _leaky_relu(z: Array) -> Array:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def _identity(z: Array) -> Array:
    return np.array(z, dtype=np.float64, copy=True)


def _softplus(z: Array) -> Array:
    return np.logaddexp(0.0, z)


_FORWARD: Final[dict[str, Callable[[Array], Array]]] = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "identity": _identity,
    "softplus": _softplus,
}

#: Activation names, in the order of DESIGN.md.
ACTIVATIONS: Final[tuple[str, ...]] = tuple(_FORWARD)
#: Activations with a kink at z = 0, where the derivative is undefined.
KINKED_ACTIVATIONS: Final[frozenset[str]] = frozenset({"relu", "leaky_relu"})
#: Loss names.
LOSSES: Final[tuple[str, ...]] = ("mse", "bce")


def activate(name: str, z: Array) -> Array:
    """Apply activation ``name`` elementwise to ``z``."""
    return _FORWARD[name](z)


def forward(params: Params, X: Array, activations: Sequence[str]) -> list[tuple[Array, Array]]:
    """Return ``[(Z1, A1), ..., (ZL, AL)]`` for the network with these parameters."""
    A = X
    layers: list[tuple[Array, Array]] = []
    for (W, b), name in zip(params, activations):
        Z = W @ A + b[:, None]
        A = activate(name, Z)
        layers.append((Z, A))
    return layers


def loss_value(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> float:
    """The loss J of DESIGN.md at these parameters."""
    Z_L, A_L = forward(params, X, activations)[-1]
    m = X.shape[1]
    if loss == "mse":
        return float(np.sum((A_L - Y) ** 2) / m)
    # bce with a sigmoid output: -(y log σ(z) + (1-y) log(1-σ(z))) = softplus(z) - y z.
    return float(np.sum(_softplus(Z_L) - Y * Z_L) / m)
