"""(b) Every product and sum an einsum: the forward pass, the output delta, dW, db and the
backward sum over units."""

from __future__ import annotations

from typing import Any

import numpy as np

supports = {"activations": ("tanh", "sigmoid", "relu", "softplus"), "losses": ("mse", "bce")}


def _sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


G = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "softplus": lambda z: np.logaddexp(0.0, z),
}
G_PRIME = {
    "tanh": lambda z: 1.0 - np.einsum("ji,ji->ji", np.tanh(z), np.tanh(z)),
    "sigmoid": lambda z: np.einsum("ji,ji->ji", _sigmoid(z), 1.0 - _sigmoid(z)),
    "relu": lambda z: (z > 0).astype(float),
    "softplus": _sigmoid,
}


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    m = X.shape[1]
    Zs, As = [], [X]
    for (W, b), name in zip(params, activations):
        Zs.append(np.einsum("jk,ki->ji", W, As[-1]) + np.einsum("j,i->ji", b, np.ones(m)))
        As.append(G[name](Zs[-1]))
    if loss == "bce":
        dJ_dZ = np.einsum("ji,->ji", As[-1] - Y, 1.0 / m)
    else:
        dJ_dA = np.einsum("ji,->ji", As[-1] - Y, 2.0 / m)
        dJ_dZ = np.einsum("ji,ji->ji", dJ_dA, G_PRIME[activations[-1]](Zs[-1]))
    grads = []
    for l in range(len(params), 0, -1):
        grads.append((np.einsum("ji,ki->jk", dJ_dZ, As[l - 1]), np.einsum("ji->j", dJ_dZ)))
        if l > 1:
            dJ_dA = np.einsum("jk,ji->ki", params[l - 1][0], dJ_dZ)
            dJ_dZ = np.einsum("ki,ki->ki", dJ_dA, G_PRIME[activations[l - 2]](Zs[l - 2]))
    return grads[::-1]


backward.supports = supports  # the harness reads the function's attribute
