"""Right formulas, not robust: the output is clipped to [1e-4, 1 - 1e-4] before the bce derivative,
as many tutorials do. It agrees at weight scales ≤ 1; at scale 10 saturated outputs are clipped
and the gradient is wrong there — a robustness finding, not a formula bug."""

from __future__ import annotations

from typing import Any

import numpy as np

supports = {"activations": ("tanh", "sigmoid"), "losses": ("bce",)}


def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
    A, As = X, [X]
    for (W, b), g in zip(params, activations):
        Z = W @ A + b[:, None]
        A = np.tanh(Z) if g == "tanh" else 1 / (1 + np.exp(-Z))
        As.append(A)
    m = X.shape[1]
    A = np.clip(A, 1e-4, 1 - 1e-4)
    delta = -(Y / A - (1 - Y) / (1 - A)) / m * A * (1 - A)
    grads = []
    for l in range(len(params), 0, -1):
        grads.append((delta @ As[l - 1].T, delta.sum(axis=1)))
        if l > 1:
            A_l = As[l - 1]
            g_prime = 1 - A_l**2 if activations[l - 2] == "tanh" else A_l * (1 - A_l)
            delta = (params[l - 1][0].T @ delta) * g_prime
    return grads[::-1]


backward.supports = supports  # type: ignore[attr-defined]
