"""(j) A precision choice: every g' evaluated at Z·(1 + 1e-12), a point 1e-12 (relative) away
from Z, as a cached or recomputed pre-activation can be. The slopes are off by about
|z g''/g'|·1e-12 — far beyond rounding, far below any logic bug: imprecise, not wrong."""

from __future__ import annotations

from typing import Any

import numpy as np

supports = {"activations": ("tanh", "sigmoid", "relu", "softplus"), "losses": ("mse", "bce")}

JITTER = 1e-12


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


G = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "softplus": lambda z: np.logaddexp(0.0, z),
}
G_PRIME = {
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    "relu": lambda z: (z > 0).astype(float),
    "softplus": _sigmoid,
}


def _slope(name: str, Z: Any) -> Any:
    return G_PRIME[name](Z * (1.0 + JITTER))


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    m = X.shape[1]
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Zs.append(W @ As[-1] + b[:, None])
        As.append(G[name](Zs[-1]))
    if loss == "bce":
        dJ_dZ = (As[-1] - Y) / m
    else:
        dJ_dZ = 2.0 * (As[-1] - Y) / m * _slope(activations[-1], Zs[-1])
    grads = []
    for l in range(len(params), 0, -1):
        grads.append((dJ_dZ @ As[l - 1].T, dJ_dZ.sum(axis=1)))
        if l > 1:
            dJ_dZ = (params[l - 1][0].T @ dJ_dZ) * _slope(activations[l - 2], Zs[l - 2])
    return grads[::-1]


backward.supports = supports  # the harness reads the function's attribute
