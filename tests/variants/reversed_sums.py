"""(c) Every sum accumulated in reversed order: the forward sums over inputs from the last input
back, dW over the batch from the last sample back, db by np.add.reduce on the reversed batch,
the backward sum over units from the last unit back."""

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


def _matmul_reversed(M: Any, A: Any) -> Any:
    """M @ A, the sum over the shared index taken from its last term to its first."""
    out = np.zeros((M.shape[0], A.shape[1]))
    for k in range(M.shape[1] - 1, -1, -1):
        out = out + np.outer(M[:, k], A[k])
    return out


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    m = X.shape[1]
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Zs.append(_matmul_reversed(W, As[-1]) + b[:, None])
        As.append(G[name](Zs[-1]))
    if loss == "bce":
        dJ_dZ = (As[-1] - Y) / m
    else:
        dJ_dZ = 2.0 * (As[-1] - Y) / m * G_PRIME[activations[-1]](Zs[-1])
    grads = []
    for l in range(len(params), 0, -1):
        A_prev = As[l - 1]
        dW = np.zeros(params[l - 1][0].shape)
        for i in range(m - 1, -1, -1):
            dW = dW + np.outer(dJ_dZ[:, i], A_prev[:, i])
        grads.append((dW, np.add.reduce(dJ_dZ[:, ::-1], axis=1)))
        if l > 1:
            dJ_dA = _matmul_reversed(params[l - 1][0].T, dJ_dZ)
            dJ_dZ = dJ_dA * G_PRIME[activations[l - 2]](Zs[l - 2])
    return grads[::-1]


backward.supports = supports  # the harness reads the function's attribute
