"""Per-index backprops in seed 000's style: one Python loop per index, one sample at a time.

Seed 000 writes the chain rule for one weight, ∂C/∂w_jk = ∂C/∂a_j · g'(z_j) · a_k, and the sum
over the nodes an activation feeds, ∂C/∂a_k = Σ_j ∂C/∂a_j · g'(z_j) · w_jk. The backprops here
write exactly that, scalar by scalar with `math`: for each sample i the cost C_i (mse: Σ_j
(a_j - y_j)², bce: -Σ_j [y_j log a_j + (1 - y_j) log(1 - a_j)]) is differentiated, and the
gradient of J = (1/m) Σ_i C_i is accumulated as ∂C_i/∂θ / m.

The toolbox (``G``, ``G_PRIME``, `forward_sample`, `dC_da_output`) is correct; `tests.meta.correct`
walks it without a bug. Each function below walks it with exactly one, marked ``# BUG:``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "G_PRIME",
    "G",
    "backward_sum_uses_w_kj",
    "bias_assigned_per_sample",
    "dC_da_output",
    "db_loop_skips_last_unit",
    "forward_sample",
    "tanh_prime_not_squared",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


G: dict[str, Callable[[float], float]] = {
    "sigmoid": _sigmoid,
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
    "identity": lambda z: z,
    "softplus": lambda z: max(z, 0.0) + math.log1p(math.exp(-abs(z))),
}

G_PRIME: dict[str, Callable[[float], float]] = {
    "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    "tanh": lambda z: 1.0 - math.tanh(z) ** 2,
    "relu": lambda z: 1.0 if z > 0 else 0.0,
    "leaky_relu": lambda z: 1.0 if z > 0 else 0.01,
    "identity": lambda z: 1.0,
    "softplus": _sigmoid,
}


def forward_sample(
    params: Params, x: Sequence[float], activations: Sequence[str]
) -> tuple[list[list[float]], list[list[float]]]:
    """z[l][j] and a[l][j] of one sample, l = 0..L (z[0] is empty, a[0] is the input)."""
    z: list[list[float]] = [[]]
    a: list[list[float]] = [[float(v) for v in x]]
    for (W, b), name in zip(params, activations):
        n_l, n_prev = W.shape
        z_l = [
            sum(float(W[j, k]) * a[-1][k] for k in range(n_prev)) + float(b[j]) for j in range(n_l)
        ]
        z.append(z_l)
        a.append([G[name](z_j) for z_j in z_l])
    return z, a


def dC_da_output(loss: str, a_j: float, y_j: float) -> float:
    """∂C_i/∂a_j of one output node: mse 2(a - y); bce -(y/a - (1 - y)/(1 - a))."""
    if loss == "mse":
        return 2.0 * (a_j - y_j)
    return -(y_j / a_j - (1.0 - y_j) / (1.0 - a_j))


def _zeros(params: Params) -> tuple[list[Array], list[Array]]:
    return [np.zeros(W.shape) for W, _ in params], [np.zeros(b.shape) for _, b in params]


def tanh_prime_not_squared(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """tanh'(z) written as 1 - tanh(z) instead of 1 - tanh(z)².

    Lives in the topmost tanh layer and every layer below it; layers above are right.
    """
    g_prime = {**G_PRIME, "tanh": lambda z: 1.0 - math.tanh(z)}  # BUG: 1 - tanh(z)**2
    L, m = len(params), X.shape[1]
    dJ_dW, dJ_db = _zeros(params)
    for i in range(m):
        z, a = forward_sample(params, X[:, i], activations)
        dC_da = [dC_da_output(loss, a[L][j], float(Y[j, i])) for j in range(len(a[L]))]
        for l in range(L, 0, -1):
            W = params[l - 1][0]
            n_l, n_prev = W.shape
            dC_dz = [dC_da[j] * g_prime[activations[l - 1]](z[l][j]) for j in range(n_l)]
            for j in range(n_l):
                for k in range(n_prev):
                    dJ_dW[l - 1][j, k] += dC_dz[j] * a[l - 1][k] / m
                dJ_db[l - 1][j] += dC_dz[j] / m
            dC_da = [sum(dC_dz[j] * float(W[j, k]) for j in range(n_l)) for k in range(n_prev)]
    return list(zip(dJ_dW, dJ_db))


def db_loop_skips_last_unit(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The bias loop runs ``range(n_l - 1)``: the last unit's bias gradient stays 0.

    One entry of every db is wrong (the last); every dW and every other bias entry is right.
    """
    L, m = len(params), X.shape[1]
    dJ_dW, dJ_db = _zeros(params)
    for i in range(m):
        z, a = forward_sample(params, X[:, i], activations)
        dC_da = [dC_da_output(loss, a[L][j], float(Y[j, i])) for j in range(len(a[L]))]
        for l in range(L, 0, -1):
            W = params[l - 1][0]
            n_l, n_prev = W.shape
            dC_dz = [dC_da[j] * G_PRIME[activations[l - 1]](z[l][j]) for j in range(n_l)]
            for j in range(n_l):
                for k in range(n_prev):
                    dJ_dW[l - 1][j, k] += dC_dz[j] * a[l - 1][k] / m
            for j in range(n_l - 1):  # BUG: range(n_l); the last unit's bias is never updated
                dJ_db[l - 1][j] += dC_dz[j] / m
            dC_da = [sum(dC_dz[j] * float(W[j, k]) for j in range(n_l)) for k in range(n_prev)]
    return list(zip(dJ_dW, dJ_db))


def bias_assigned_per_sample(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The bias gradient is assigned, not accumulated, in the loop over samples.

    ``db[j] = ∂C_i/∂z_j / m`` keeps only the last sample's term: every db is wrong when m > 1;
    every dW is right.
    """
    L, m = len(params), X.shape[1]
    dJ_dW, dJ_db = _zeros(params)
    for i in range(m):
        z, a = forward_sample(params, X[:, i], activations)
        dC_da = [dC_da_output(loss, a[L][j], float(Y[j, i])) for j in range(len(a[L]))]
        for l in range(L, 0, -1):
            W = params[l - 1][0]
            n_l, n_prev = W.shape
            dC_dz = [dC_da[j] * G_PRIME[activations[l - 1]](z[l][j]) for j in range(n_l)]
            for j in range(n_l):
                for k in range(n_prev):
                    dJ_dW[l - 1][j, k] += dC_dz[j] * a[l - 1][k] / m
                dJ_db[l - 1][j] = dC_dz[j] / m  # BUG: should be += (sum over samples)
            dC_da = [sum(dC_dz[j] * float(W[j, k]) for j in range(n_l)) for k in range(n_prev)]
    return list(zip(dJ_dW, dJ_db))


def backward_sum_uses_w_kj(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The backward sum reads w_kj instead of w_jk: ∂C/∂a_k = Σ_j ∂C/∂z_j · w_kj.

    That is W instead of W^T in the sum, so the top layer is right and every layer below it is
    off. The indices only stay in range when every layer has the same width (n0 may differ), so
    it is declared to run only there.
    """
    L, m = len(params), X.shape[1]
    dJ_dW, dJ_db = _zeros(params)
    for i in range(m):
        z, a = forward_sample(params, X[:, i], activations)
        dC_da = [dC_da_output(loss, a[L][j], float(Y[j, i])) for j in range(len(a[L]))]
        for l in range(L, 0, -1):
            W = params[l - 1][0]
            n_l, n_prev = W.shape
            dC_dz = [dC_da[j] * G_PRIME[activations[l - 1]](z[l][j]) for j in range(n_l)]
            for j in range(n_l):
                for k in range(n_prev):
                    dJ_dW[l - 1][j, k] += dC_dz[j] * a[l - 1][k] / m
                dJ_db[l - 1][j] += dC_dz[j] / m
            if l > 1:
                # BUG: W[k, j] is w_kj; seed 000's sum is over w_jk = W[j, k]
                dC_da = [sum(dC_dz[j] * float(W[k, j]) for j in range(n_l)) for k in range(n_prev)]
    return list(zip(dJ_dW, dJ_db))
