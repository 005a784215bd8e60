"""(h) A precision choice: tanh written as 2/(1 + exp(-2z)) - 1, its derivative as 1 - a² of
that same value. Near z = 0 the final subtraction cancels: tanh(z) is off by about an ulp of 1,
not of tanh(z) — imprecise where it feeds dW, not wrong."""

from __future__ import annotations

from typing import Any

import numpy as np

supports = {"activations": ("tanh", "sigmoid", "relu", "softplus"), "losses": ("mse", "bce")}


def _tanh(z: Any) -> Any:
    return 2.0 / (1.0 + np.exp(-2.0 * z)) - 1.0


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


G = {
    "tanh": _tanh,
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "softplus": lambda z: np.logaddexp(0.0, z),
}
G_PRIME = {
    "tanh": lambda z: 1.0 - _tanh(z) ** 2,
    "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    "relu": lambda z: (z > 0).astype(float),
    "softplus": _sigmoid,
}


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    m = X.shape[1]
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Zs.append(W @ As[-1] + b[:, None])
        As.append(G[name](Zs[-1]))
    if loss == "bce":
        dJ_dZ = (As[-1] - Y) / m
    else:
        dJ_dZ = 2.0 * (As[-1] - Y) / m * G_PRIME[activations[-1]](Zs[-1])
    grads = []
    for l in range(len(params), 0, -1):
        grads.append((dJ_dZ @ As[l - 1].T, dJ_dZ.sum(axis=1)))
        if l > 1:
            dJ_dZ = (params[l - 1][0].T @ dJ_dZ) * G_PRIME[activations[l - 2]](Zs[l - 2])
    return grads[::-1]


backward.supports = supports  # the harness reads the function's attribute
