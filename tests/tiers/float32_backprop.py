"""A correct backprop computed in float32 throughout (tanh and sigmoid layers, mse): right under
``--precision float32``, wrong under the default float64 (its float32 rounding is far beyond
float64's)."""

from __future__ import annotations

from typing import Any

import numpy as np

supports = {"activations": ("tanh", "sigmoid"), "losses": ("mse",)}


def _g_prime(name: str, A: Any) -> Any:
    return 1 - A**2 if name == "tanh" else A * (1 - A)


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    params = [(W.astype(np.float32), b.astype(np.float32)) for W, b in params]
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    A, As = X, [X]
    for (W, b), g in zip(params, activations):
        Z = W @ A + b[:, None]
        A = np.tanh(Z) if g == "tanh" else 1 / (1 + np.exp(-Z))
        As.append(A)
    m = np.float32(X.shape[1])
    delta = 2 * (A - Y) / m * _g_prime(activations[-1], A)
    grads = []
    for l in range(len(params), 0, -1):
        grads.append((delta @ As[l - 1].T, delta.sum(axis=1)))
        if l > 1:
            delta = (params[l - 1][0].T @ delta) * _g_prime(activations[l - 2], As[l - 1])
    return grads[::-1]


backward.supports = supports  # type: ignore[attr-defined]
