"""Backprops written with `numpy.einsum`, one subscript string per formula of the seeds.

Indices: j a unit of layer l, k a unit of layer l - 1, i a sample. Forward
``Z_ji = Σ_k W_jk A_ki + b_j`` (``"jk,ki->ji"``); backward ``dJ_dW_jk = Σ_i dJ_dZ_ji A_ki``
(``"ji,ki->jk"``), ``dJ_db_j = Σ_i dJ_dZ_ji`` (``"ji->j"``), ``dJ_dA_ki = Σ_j W_jk dJ_dZ_ji``
(``"jk,ji->ki"``).

The toolbox (``G``, ``G_PRIME``, `forward_einsum`, `output_dJ_dA`) is correct;
`tests.meta.correct` walks it without a bug. Each function below has one, marked ``# BUG:``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "G_PRIME",
    "G",
    "bce_derivative_sign_error",
    "forward_einsum",
    "g_prime_applied_twice",
    "l2_penalty_left_in",
    "output_dJ_dA",
    "softplus_prime_sign_error",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


def _sigmoid(Z: Array) -> Array:
    return np.asarray(np.exp(-np.logaddexp(0.0, -Z)))


G: dict[str, Callable[[Array], Array]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda Z: np.where(Z > 0, Z, 0.0),
    "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
    "identity": lambda Z: Z,
    "softplus": lambda Z: np.logaddexp(0.0, Z),
}

G_PRIME: dict[str, Callable[[Array], Array]] = {
    "sigmoid": lambda Z: _sigmoid(Z) * _sigmoid(-Z),
    "tanh": lambda Z: 1.0 - np.tanh(Z) ** 2,
    "relu": lambda Z: np.where(Z > 0, 1.0, 0.0),
    "leaky_relu": lambda Z: np.where(Z > 0, 1.0, 0.01),
    "identity": np.ones_like,
    "softplus": _sigmoid,
}


def forward_einsum(
    params: Params, X: Array, activations: Sequence[str]
) -> tuple[list[Array], list[Array]]:
    """Zs = [Z1, ..., ZL] and As = [X, A1, ..., AL]."""
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Z = np.einsum("jk,ki->ji", W, As[-1]) + b[:, None]
        Zs.append(Z)
        As.append(G[name](Z))
    return Zs, As


def output_dJ_dA(loss: str, A_L: Array, Y: Array) -> Array:
    m = Y.shape[1]
    if loss == "mse":
        return 2.0 * (A_L - Y) / m
    return -(Y / A_L - (1.0 - Y) / (1.0 - A_L)) / m


def softplus_prime_sign_error(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """softplus'(z) written 1/(1 + e^z), i.e. σ(-z), where it is 1/(1 + e^-z) = σ(z).

    Lives in the topmost softplus layer and every layer below it.
    """
    g_prime = {**G_PRIME, "softplus": lambda Z: 1.0 / (1.0 + np.exp(Z))}  # BUG: e^-z, not e^z
    Zs, As = forward_einsum(params, X, activations)
    dJ_dA = output_dJ_dA(loss, As[-1], Y)
    grads = []
    for l in range(len(params), 0, -1):
        W = params[l - 1][0]
        dJ_dZ = dJ_dA * g_prime[activations[l - 1]](Zs[l - 1])
        grads.append((np.einsum("ji,ki->jk", dJ_dZ, As[l - 1]), np.einsum("ji->j", dJ_dZ)))
        dJ_dA = np.einsum("jk,ji->ki", W, dJ_dZ)
    return grads[::-1]


def bce_derivative_sign_error(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """bce's dJ/da without the sigmoid simplification, and with a + on the (1 - y) term.

    dJ/da = -(1/m)(y/a - (1 - y)/(1 - a)); written -(1/m)(y/a + (1 - y)/(1 - a)). With bce every
    tensor of every layer is off; mse is right.
    """
    Zs, As = forward_einsum(params, X, activations)
    A_L, m = As[-1], X.shape[1]
    if loss == "bce":
        dJ_dA = -(Y / A_L + (1.0 - Y) / (1.0 - A_L)) / m  # BUG: - (1 - y)/(1 - a)
    else:
        dJ_dA = output_dJ_dA(loss, A_L, Y)
    grads = []
    for l in range(len(params), 0, -1):
        W = params[l - 1][0]
        dJ_dZ = dJ_dA * G_PRIME[activations[l - 1]](Zs[l - 1])
        grads.append((np.einsum("ji,ki->jk", dJ_dZ, As[l - 1]), np.einsum("ji->j", dJ_dZ)))
        dJ_dA = np.einsum("jk,ji->ki", W, dJ_dZ)
    return grads[::-1]


_WEIGHT_DECAY = 1e-2


def l2_penalty_left_in(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dW includes the weight-decay term λW of the training loop's regularized loss (λ = 1e-2).

    J has no penalty: every dW is off by λW; every db is right.
    """
    Zs, As = forward_einsum(params, X, activations)
    dJ_dA = output_dJ_dA(loss, As[-1], Y)
    grads = []
    for l in range(len(params), 0, -1):
        W = params[l - 1][0]
        dJ_dZ = dJ_dA * G_PRIME[activations[l - 1]](Zs[l - 1])
        dJ_dW = np.einsum("ji,ki->jk", dJ_dZ, As[l - 1]) + _WEIGHT_DECAY * W  # BUG: no λW in J
        grads.append((dJ_dW, np.einsum("ji->j", dJ_dZ)))
        dJ_dA = np.einsum("jk,ji->ki", W, dJ_dZ)
    return grads[::-1]


def g_prime_applied_twice(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dJ_dA^(l-1) already multiplied by g'(Z^(l-1)), then multiplied by it again as dJ_dZ.

    dA and dZ mixed up: every hidden layer's delta carries g'². Where g'² = g' (relu, identity)
    nothing changes; otherwise the topmost hidden sigmoid, tanh, softplus or leaky_relu layer is
    off, and every layer below it. The output layer is right.
    """
    Zs, As = forward_einsum(params, X, activations)
    dJ_dA = output_dJ_dA(loss, As[-1], Y)
    grads = []
    for l in range(len(params), 0, -1):
        W = params[l - 1][0]
        dJ_dZ = dJ_dA * G_PRIME[activations[l - 1]](Zs[l - 1])
        grads.append((np.einsum("ji,ki->jk", dJ_dZ, As[l - 1]), np.einsum("ji->j", dJ_dZ)))
        if l > 1:
            # BUG: this is dJ_dZ^(l-1) already; the next pass multiplies by g' once more
            dJ_dA = np.einsum("jk,ji->ki", W, dJ_dZ) * G_PRIME[activations[l - 2]](Zs[l - 2])
    return grads[::-1]
