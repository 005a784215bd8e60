"""This diagnoser's own derivatives: g' of each elementwise activation, and the usual
mistypings of each as a student writes them (silu' as σ(z), gelu' as Φ(z), elu' without its + 1,
a leaky_relu(α)' with another usual slope, softmax's Jacobian as its diagonal).

Written here, shared with no source; only the activations' forward definition is. A name outside
the closed set raises, and softmax, whose derivative is a Jacobian, has no elementwise g'.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np

from harness.network import LEAKY_SLOPE, Array, activate, erfc, leaky_slope

__all__ = [
    "COUPLED",
    "G_PRIME",
    "G_PRIME_ALT",
    "LEAKY_SLOPES_TRIED",
    "g_prime",
    "mistyped",
    "sigmoid",
]

#: Slopes people give leaky_relu; a leaky_relu(α)' with another of them is named with it.
LEAKY_SLOPES_TRIED: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5)


def sigmoid(z: Array) -> Array:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def Phi(z: Array) -> Array:
    """The standard normal CDF, from erfc (accurate for z << 0)."""
    return 0.5 * erfc(-z / math.sqrt(2.0))


def _gelu_prime(z: Array) -> Array:
    # d/dz z·Φ(z) = Φ(z) + z·φ(z), φ the standard normal density.
    return Phi(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


#: g'(z) for each elementwise activation, written here (not shared with any source);
#: leaky_relu(α) is read from its name (`g_prime`), softmax has no elementwise g'.
G_PRIME: Final[dict[str, Callable[[Array], Array]]] = {
    "sigmoid": lambda z: sigmoid(z) * sigmoid(-z),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "relu": lambda z: np.where(z > 0, 1.0, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, LEAKY_SLOPE),
    "identity": np.ones_like,
    "softplus": sigmoid,
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))),
    "silu": lambda z: sigmoid(z) * (1.0 + z * sigmoid(-z)),
    "gelu": _gelu_prime,
}
#: The other common way to write each smooth g': float32 replicas use both, as candidates do.
G_PRIME_ALT: Final = {
    **G_PRIME,
    "sigmoid": lambda z: sigmoid(z) * (1.0 - sigmoid(z)),
    "tanh": lambda z: 1.0 / np.cosh(z) ** 2,
}
#: Activations whose derivative couples a sample's outputs (a Jacobian, not an elementwise g').
COUPLED: Final = frozenset({"softmax"})


def _leaky_prime(slope: float) -> Callable[[Array], Array]:
    return lambda z: np.where(z > 0, 1.0, slope)


def g_prime(
    name: str, table: dict[str, Callable[[Array], Array]] = G_PRIME
) -> Callable[[Array], Array]:
    """g' of an elementwise activation; raises on softmax and on a name nobody knows."""
    if name in table:
        return table[name]
    alpha = leaky_slope(name)
    if alpha is not None:
        return _leaky_prime(alpha)
    raise ValueError(f"diagnose: no elementwise derivative for activation {name!r}")


def _softmax_diagonal(z: Array) -> Array:
    a = activate("softmax", z)
    return a * (1.0 - a)


#: Common mistypings of a derivative, by the activation they belong to: the formula as a
#: student writes it. Tried before another activation's g' (pattern wrong-activation-derivative).
_MISTYPED: Final[dict[str, dict[str, Callable[[Array], Array]]]] = {
    "tanh": {"1 - tanh(z)": lambda z: 1.0 - np.tanh(z), "tanh(z)": np.tanh},
    "relu": {
        "z": lambda z: np.array(z, dtype=np.float64),
        "max(z, 0)": lambda z: np.maximum(z, 0.0),
    },
    "softplus": {"σ(-z)": lambda z: sigmoid(-z)},
    "sigmoid": {"σ(z)(1 + σ(z))": lambda z: sigmoid(z) * (1.0 + sigmoid(z))},
    "silu": {"σ(z), missing z·σ(z)(1 - σ(z))": sigmoid},
    "gelu": {"Φ(z), missing z·φ(z)": Phi},
    "elu": {
        "e^z - 1 for z <= 0 (elu itself, missing + 1)": lambda z: np.where(
            z > 0, 1.0, np.expm1(np.minimum(z, 0.0))
        )
    },
    "softmax": {"the diagonal a(1 - a) of its Jacobian": _softmax_diagonal},
}


def mistyped(own: str) -> dict[str, Callable[[Array], Array]]:
    """The mistypings of ``own``'; a leaky_relu(α) with another usual slope, named."""
    table = dict(_MISTYPED.get(own, {}))
    alpha = leaky_slope(own)
    if alpha is not None:
        for slope in LEAKY_SLOPES_TRIED:
            if slope != alpha:
                text = f"slope {slope:g} for z <= 0 (the forward pass uses {alpha:g})"
                table[text] = _leaky_prime(slope)
    return table
