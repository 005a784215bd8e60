"""(e) The mean applied last: the backward pass works with Σ_i C_i (no 1/m anywhere), and each
dW and db is divided by m at the very end."""

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
    m = X.shape[1]
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Zs.append(W @ As[-1] + b[:, None])
        As.append(G[name](Zs[-1]))
    dC_dZ = As[-1] - Y  # bce after a sigmoid: dC/dz = a - y
    if loss == "mse":
        dC_dZ = 2.0 * dC_dZ * G_PRIME[activations[-1]](Zs[-1])
    sums = []
    for l in range(len(params), 0, -1):
        sums.append((dC_dZ @ As[l - 1].T, dC_dZ.sum(axis=1)))
        if l > 1:
            dC_dZ = (params[l - 1][0].T @ dC_dZ) * G_PRIME[activations[l - 2]](Zs[l - 2])
    return [(dW / m, db / m) for dW, db in sums[::-1]]


backward.supports = supports  # the harness reads the function's attribute
