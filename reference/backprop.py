"""Vectorized backprop, seed 001 generalized to any depth, output width, both losses.

Shapes (columns are samples): X (n0, m), W^(l) (n_l, n_{l-1}), b^(l) (n_l,), Y (nL, m).
Losses: mse J = (1/m) Σ (a - y)² (no ½); bce J = -(1/m) Σ [y log a + (1 - y) log(1 - a)]
with a sigmoid output layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["backward", "forward"]

Array = NDArray[np.float64]

_LEAKY_SLOPE = 0.01


def _sigmoid(Z: Array) -> Array:
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


# name -> (g, g') with g' written in terms of Z.
_ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "sigmoid": (_sigmoid, lambda Z: _sigmoid(Z) * _sigmoid(-Z)),
    "tanh": (np.tanh, lambda Z: 1.0 / np.cosh(Z) ** 2),
    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(np.float64)),
    "leaky_relu": (
        lambda Z: np.where(Z > 0, Z, _LEAKY_SLOPE * Z),
        lambda Z: np.where(Z > 0, 1.0, _LEAKY_SLOPE),
    ),
    "identity": (lambda Z: Z.copy(), lambda Z: np.ones_like(Z)),
    "softplus": (lambda Z: np.logaddexp(0.0, Z), _sigmoid),
}


def _g(name: str) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}") from None


def forward(
    params: Sequence[tuple[Array, Array]], X: Array, activations: Sequence[str]
) -> list[tuple[Array, Array]]:
    """Return the cache ``[(Z1, A1), ..., (ZL, AL)]``."""
    A_prev = X
    cache: list[tuple[Array, Array]] = []
    for (W, b), name in zip(params, activations, strict=True):
        g, _ = _g(name)
        Z = W @ A_prev + b[:, None]
        A = g(Z)
        cache.append((Z, A))
        A_prev = A
    return cache


def backward(
    params: Sequence[tuple[Array, Array]],
    X: Array,
    Y: Array,
    activations: Sequence[str],
    loss: str,
) -> list[tuple[Array, Array]]:
    """The gradient dJ/dθ as ``[(dJ_dW1, dJ_dB1), ...]``, each with its parameter's shape."""
    cache = forward(params, X, activations)
    m = X.shape[1]
    Z_L, A_L = cache[-1]
    if loss == "mse":
        dJ_dA = 2.0 * (A_L - Y) / m
        dJ_dZ = dJ_dA * _g(activations[-1])[1](Z_L)
    elif loss == "bce":
        if activations[-1] != "sigmoid":
            raise ValueError("loss 'bce' needs a sigmoid output layer")
        # Seed 001: dJ_dZ = -(1/m)(Y/A - (1-Y)/(1-A)) ⊙ A(1-A), which simplifies to (A - Y)/m;
        # the simplified form stays finite when the sigmoid saturates (A rounds to 0 or 1).
        dJ_dZ = (A_L - Y) / m
    else:
        raise ValueError(f"unknown loss {loss!r}; known: mse, bce")

    grads: list[tuple[Array, Array]] = []
    for l in range(len(params) - 1, -1, -1):
        A_prev = X if l == 0 else cache[l - 1][1]
        W, _ = params[l]
        dJ_dW = dJ_dZ @ A_prev.T
        dJ_dB = dJ_dZ.sum(axis=1)
        grads.append((dJ_dW, dJ_dB))
        if l > 0:
            dJ_dA_prev = W.T @ dJ_dZ
            Z_prev = cache[l - 1][0]
            dJ_dZ = dJ_dA_prev * _g(activations[l - 1])[1](Z_prev)
    grads.reverse()
    return grads
