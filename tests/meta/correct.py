"""Correct backprops in every style of the corpus: the control group, never to be blamed.

Each one walks the toolbox of its style module (`tests.meta.loops`, `~.rows`, `~.dict_cache`,
`~.layers`, `~.einsum_style`, `~.autograd`) without a bug. They pass, so a wrong one of the same
style fails because of its one marked bug, not because of its style's machinery. The last one
is written for saturated problems: with bce it uses dJ_dZ^(L) = (a - y)/m and a sigmoid that
never overflows, so it stays finite and exact when the output rounds to 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from . import dict_cache, einsum_style, layers, loops, rows
from .autograd import gradients_by_autograd

__all__ = [
    "autograd_correct",
    "dict_cache_correct",
    "einsum_correct",
    "layers_correct",
    "loops_correct",
    "rows_correct",
    "saturation_proof_correct",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


def loops_correct(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Seed 000's chain rule, index by index, one sample at a time, averaged over samples."""
    L, m = len(params), X.shape[1]
    dJ_dW = [np.zeros(W.shape) for W, _ in params]
    dJ_db = [np.zeros(b.shape) for _, b in params]
    for i in range(m):
        z, a = loops.forward_sample(params, X[:, i], activations)
        dC_da = [loops.dC_da_output(loss, a[L][j], float(Y[j, i])) for j in range(len(a[L]))]
        for l in range(L, 0, -1):
            W = params[l - 1][0]
            n_l, n_prev = W.shape
            g_prime = loops.G_PRIME[activations[l - 1]]
            dC_dz = [dC_da[j] * g_prime(z[l][j]) for j in range(n_l)]
            for j in range(n_l):
                for k in range(n_prev):
                    dJ_dW[l - 1][j, k] += dC_dz[j] * a[l - 1][k] / m
                dJ_db[l - 1][j] += dC_dz[j] / m
            dC_da = [sum(dC_dz[j] * float(W[j, k]) for j in range(n_l)) for k in range(n_prev)]
    return list(zip(dJ_dW, dJ_db))


def rows_correct(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Samples as rows inside (X.T, W.T), transposed back to the contract at the end."""
    V = [W.T for W, _ in params]
    b = [b_l for _, b_l in params]
    cache = rows.forward_rows(V, b, X.T, activations)
    dJ_dA = rows.output_dJ_dA_rows(loss, cache.pop()[0], Y.T)
    grads = []
    for (A_prev, Z), V_l, name in zip(reversed(cache), reversed(V), reversed(activations)):
        dJ_dZ = dJ_dA * rows.ACT_PRIME[name](Z)
        grads.append(((A_prev.T @ dJ_dZ).T, dJ_dZ.sum(axis=0)))
        dJ_dA = dJ_dZ @ V_l.T
    return grads[::-1]


def dict_cache_correct(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Caches and gradients in dicts keyed "Z1", "A0", "dW2"; biases as columns inside."""
    parameters = dict_cache.parameters_from(params)
    cache = dict_cache.forward_propagation(X, parameters, activations)
    grads = dict_cache.backward_propagation(parameters, cache, Y, activations, loss)
    return [(grads[f"dW{l}"], grads[f"db{l}"].reshape(-1)) for l in range(1, len(params) + 1)]


def layers_correct(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Dense and activation objects with forward/backward, run by a Sequential."""
    net = layers.Sequential(params, activations)
    net.backward(layers.LOSSES[loss]().backward(net.forward(X), Y))
    return net.gradients()


def einsum_correct(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """One einsum per formula: "ji,ki->jk" for dW, "ji->j" for db, "jk,ji->ki" for dA_prev."""
    Zs, As = einsum_style.forward_einsum(params, X, activations)
    dJ_dA = einsum_style.output_dJ_dA(loss, As[-1], Y)
    grads = []
    for l in range(len(params), 0, -1):
        W = params[l - 1][0]
        dJ_dZ = dJ_dA * einsum_style.G_PRIME[activations[l - 1]](Zs[l - 1])
        grads.append((np.einsum("ji,ki->jk", dJ_dZ, As[l - 1]), np.einsum("ji->j", dJ_dZ)))
        dJ_dA = np.einsum("jk,ji->ki", W, dJ_dZ)
    return grads[::-1]


def autograd_correct(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """A scalar autograd engine differentiates J of the whole batch (small nets only)."""
    return gradients_by_autograd(params, X, Y, activations, loss)


def _sigmoid(Z: Array) -> Array:
    E = np.exp(-np.abs(Z))  # never overflows
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


def saturation_proof_correct(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Vectorized, with bce's dJ_dZ^(L) = (a - y)/m and g' written so nothing overflows.

    sigmoid' = σ(z)σ(-z) and tanh' = 1/cosh² keep full relative precision where the
    activation saturates, so this stays exact on problems with large weights.
    """
    g = {
        "sigmoid": _sigmoid,
        "tanh": np.tanh,
        "relu": lambda Z: np.maximum(Z, 0.0),
        "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
        "identity": lambda Z: Z,
        "softplus": lambda Z: np.logaddexp(0.0, Z),
    }
    g_prime = {
        "sigmoid": lambda Z: _sigmoid(Z) * _sigmoid(-Z),
        "tanh": lambda Z: 1.0 / np.cosh(np.minimum(np.abs(Z), 350.0)) ** 2,
        "relu": lambda Z: (Z > 0).astype(np.float64),
        "leaky_relu": lambda Z: np.where(Z > 0, 1.0, 0.01),
        "identity": np.ones_like,
        "softplus": _sigmoid,
    }
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Zs.append(W @ As[-1] + b[:, None])
        As.append(g[name](Zs[-1]))
    m = X.shape[1]
    if loss == "bce":
        dJ_dZ = (As[-1] - Y) / m
    else:
        dJ_dZ = 2.0 * (As[-1] - Y) / m * g_prime[activations[-1]](Zs[-1])
    grads = []
    for l in range(len(params), 0, -1):
        grads.append((dJ_dZ @ As[l - 1].T, dJ_dZ.sum(axis=1)))
        if l > 1:
            dJ_dZ = (params[l - 1][0].T @ dJ_dZ) * g_prime[activations[l - 2]](Zs[l - 2])
    return grads[::-1]
