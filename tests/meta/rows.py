"""Backprops written rows-as-samples inside, transposed at the contract's boundary.

Many people learn backprop with one sample per *row* (the layout of most frameworks): X_r is
(m, n0), a layer's weights V are (n_prev, n_l), ``Z = A_prev @ V + b``; backward
``dJ_dV = A_prev.T @ dJ_dZ``, ``dJ_db = dJ_dZ.sum(axis=0)``, ``dJ_dA_prev = dJ_dZ @ V.T``.
These plug-ins take the contract's column layout, transpose at the start (``X.T``, ``W.T``), and
transpose dJ_dV back into the contract's (n_l, n_prev) at the end.

The toolbox (``ACT``, ``ACT_PRIME``, `forward_rows`, `output_dJ_dA_rows`) is correct;
`tests.meta.correct` walks it without a bug. Each function below has one, marked ``# BUG:``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ACT",
    "ACT_PRIME",
    "activations_not_reversed",
    "float32_computation",
    "forward_rows",
    "grads_returned_top_first",
    "leaky_slope_in_derivative",
    "missing_output_g_prime",
    "mse_mean_over_outputs",
    "output_dJ_dA_rows",
]

Array = NDArray[np.floating]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


def _sigmoid(Z: Array) -> Array:
    return np.exp(-np.logaddexp(0, -Z))  # 1 / (1 + e^-z) without overflow


ACT: dict[str, Callable[[Array], Array]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda Z: np.maximum(Z, 0),
    "leaky_relu": lambda Z: np.maximum(Z, 0.01 * Z),
    "identity": lambda Z: Z,
    "softplus": lambda Z: np.logaddexp(0, Z),
}

ACT_PRIME: dict[str, Callable[[Array], Array]] = {
    "sigmoid": lambda Z: _sigmoid(Z) * (1 - _sigmoid(Z)),
    "tanh": lambda Z: 1 - np.tanh(Z) ** 2,
    "relu": lambda Z: np.heaviside(Z, 0.0).astype(Z.dtype),
    "leaky_relu": lambda Z: np.where(Z > 0, 1, 0.01).astype(Z.dtype),
    "identity": np.ones_like,
    "softplus": _sigmoid,
}


def forward_rows(
    V: Sequence[Array], b: Sequence[Array], X_r: Array, activations: Sequence[str]
) -> list[tuple[Array, Array]]:
    """[(A_prev, Z) per layer] in the rows layout, and the output activation last as (A_L, Z_L)."""
    cache = []
    A = X_r
    for V_l, b_l, name in zip(V, b, activations):
        Z = A @ V_l + b_l
        cache.append((A, Z))
        A = ACT[name](Z)
    cache.append((A, cache[-1][1]))
    return cache


def output_dJ_dA_rows(loss: str, A_L: Array, Y_r: Array) -> Array:
    m = A_L.shape[0]
    if loss == "mse":
        return 2 * (A_L - Y_r) / m
    return -(Y_r / A_L - (1 - Y_r) / (1 - A_L)) / m


def _rows(params: Params, X: Array, Y: Array) -> tuple[list[Array], list[Array], Array, Array]:
    """The boundary: weights as (n_prev, n_l), samples as rows."""
    return [W.T for W, _ in params], [b for _, b in params], X.T, Y.T


def leaky_slope_in_derivative(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """leaky_relu'(z) for z <= 0 written as 0.1, though the forward pass uses slope 0.01.

    Lives in the topmost leaky_relu layer (where some z < 0) and every layer below it.
    """
    act_prime = {**ACT_PRIME, "leaky_relu": lambda Z: np.where(Z > 0, 1.0, 0.1)}  # BUG: 0.01
    V, b, X_r, Y_r = _rows(params, X, Y)
    cache = forward_rows(V, b, X_r, activations)
    dJ_dA = output_dJ_dA_rows(loss, cache.pop()[0], Y_r)
    grads = []
    for (A_prev, Z), V_l, name in zip(reversed(cache), reversed(V), reversed(activations)):
        dJ_dZ = dJ_dA * act_prime[name](Z)
        grads.append(((A_prev.T @ dJ_dZ).T, dJ_dZ.sum(axis=0)))
        dJ_dA = dJ_dZ @ V_l.T
    return grads[::-1]


def missing_output_g_prime(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The output layer's delta is dJ/dA^(L) itself: g'(Z^(L)) is never applied there.

    The "delta = prediction error" of a linear output, kept for a non-linear one: with a
    non-identity output layer every tensor of every layer is off; with an identity output it is
    right.
    """
    V, b, X_r, Y_r = _rows(params, X, Y)
    cache = forward_rows(V, b, X_r, activations)
    dJ_dZ = output_dJ_dA_rows(loss, cache.pop()[0], Y_r)  # BUG: times ACT_PRIME[out](Z_L)
    grads = []
    for l in range(len(V) - 1, -1, -1):
        A_prev, Z = cache[l]
        if l < len(V) - 1:
            dJ_dZ = dJ_dZ * ACT_PRIME[activations[l]](Z)
        grads.append(((A_prev.T @ dJ_dZ).T, dJ_dZ.sum(axis=0)))
        dJ_dZ = dJ_dZ @ V[l].T
    return grads[::-1]


def mse_mean_over_outputs(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The mse gradient of ``np.mean((A - Y)**2)``: divided by m·n_L instead of m.

    DESIGN's mse sums over the outputs and averages over the samples only, so with mse and more
    than one output every tensor is n_L times too small; bce is right.
    """
    V, b, X_r, Y_r = _rows(params, X, Y)
    cache = forward_rows(V, b, X_r, activations)
    A_L = cache.pop()[0]
    # BUG: for mse, A_L.size = m·n_L; J averages over the m samples only
    dJ_dA = 2 * (A_L - Y_r) / A_L.size if loss == "mse" else output_dJ_dA_rows(loss, A_L, Y_r)
    grads = []
    for (A_prev, Z), V_l, name in zip(reversed(cache), reversed(V), reversed(activations)):
        dJ_dZ = dJ_dA * ACT_PRIME[name](Z)
        grads.append(((A_prev.T @ dJ_dZ).T, dJ_dZ.sum(axis=0)))
        dJ_dA = dJ_dZ @ V_l.T
    return grads[::-1]


def activations_not_reversed(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The backward walk zips the reversed cache with the activations in forward order.

    Layer l is differentiated with g' of layer L + 1 - l. Where the activation list is a
    palindrome nothing changes; otherwise the topmost layer l whose name differs from layer
    L + 1 - l's is off, and every layer below it.
    """
    V, b, X_r, Y_r = _rows(params, X, Y)
    cache = forward_rows(V, b, X_r, activations)
    dJ_dA = output_dJ_dA_rows(loss, cache.pop()[0], Y_r)
    grads = []
    # BUG: activations must be reversed(activations), like the cache and the weights
    for (A_prev, Z), V_l, name in zip(reversed(cache), reversed(V), activations):
        dJ_dZ = dJ_dA * ACT_PRIME[name](Z)
        grads.append(((A_prev.T @ dJ_dZ).T, dJ_dZ.sum(axis=0)))
        dJ_dA = dJ_dZ @ V_l.T
    return grads[::-1]


def grads_returned_top_first(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The gradients are returned in the order the backward walk made them: top layer first.

    numpy only lets it through when layer l's shapes equal layer L + 1 - l's (declared to run
    only there); then every layer except a middle one holds another layer's gradient.
    """
    V, b, X_r, Y_r = _rows(params, X, Y)
    cache = forward_rows(V, b, X_r, activations)
    dJ_dA = output_dJ_dA_rows(loss, cache.pop()[0], Y_r)
    grads = []
    for (A_prev, Z), V_l, name in zip(reversed(cache), reversed(V), reversed(activations)):
        dJ_dZ = dJ_dA * ACT_PRIME[name](Z)
        grads.append(((A_prev.T @ dJ_dZ).T, dJ_dZ.sum(axis=0)))
        dJ_dA = dJ_dZ @ V_l.T
    return grads  # BUG: should be grads[::-1] (layer 1 first)


def float32_computation(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Everything computed in float32 (a framework's default dtype), cast back to float64.

    The formulas are right; every entry carries float32 rounding, ~1e-7 relative, far beyond
    float64's. Every tensor of every layer is off by that much.
    """
    V, b, X_r, Y_r = _rows(params, X, Y)
    # BUG: float32 throughout; the contract's float64 precision is lost before the first matmul
    V, b = [v.astype(np.float32) for v in V], [b_l.astype(np.float32) for b_l in b]
    X_r, Y_r = X_r.astype(np.float32), Y_r.astype(np.float32)
    cache = forward_rows(V, b, X_r, activations)
    dJ_dA = output_dJ_dA_rows(loss, cache.pop()[0], Y_r)
    grads = []
    for (A_prev, Z), V_l, name in zip(reversed(cache), reversed(V), reversed(activations)):
        dJ_dZ = dJ_dA * ACT_PRIME[name](Z)
        grads.append(((A_prev.T @ dJ_dZ).T, dJ_dZ.sum(axis=0)))
        dJ_dA = dJ_dZ @ V_l.T
    return [(dW.astype(np.float64), db.astype(np.float64)) for dW, db in grads[::-1]]
