"""(d) The mean applied early: the output delta is multiplied by 1/m (a rounded reciprocal), and
every later product carries it."""

from __future__ import annotations

from typing import Any

import numpy as np

supports = {"activations": ("tanh", "sigmoid", "relu", "softplus"), "losses": ("mse", "bce")}

G = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "softplus": lambda z: np.logaddexp(0.0, z),
}
G_PRIME = {
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "sigmoid": lambda z: G["sigmoid"](z) * (1.0 - G["sigmoid"](z)),
    "relu": lambda z: (z > 0).astype(float),
    "softplus": lambda z: G["sigmoid"](z),
}


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    inv_m = 1.0 / X.shape[1]
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Zs.append(W @ As[-1] + b[:, None])
        As.append(G[name](Zs[-1]))
    if loss == "bce":
        dJ_dZ = inv_m * (As[-1] - Y)
    else:
        dJ_dZ = (2.0 * inv_m) * (As[-1] - Y) * G_PRIME[activations[-1]](Zs[-1])
    grads = []
    for l in range(len(params), 0, -1):
        grads.append((dJ_dZ @ As[l - 1].T, dJ_dZ.sum(axis=1)))
        if l > 1:
            dJ_dZ = (params[l - 1][0].T @ dJ_dZ) * G_PRIME[activations[l - 2]](Zs[l - 2])
    return grads[::-1]


backward.supports = supports  # the harness reads the function's attribute
