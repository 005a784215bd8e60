"""A vectorized backprop in the contract's layout (columns as samples) that keeps its biases as
(n, 1) columns, as much course code does (written for this project): tanh or sigmoid layers,
binary cross-entropy on a sigmoid output. `backward` is right; `BUGGY[name]` holds the same code
with one of three bugs injected."""

from __future__ import annotations

import numpy as np

SUPPORTS = {"activations": ["tanh", "sigmoid"], "losses": ["bce"]}


def _g(name, Z):
    return np.tanh(Z) if name == "tanh" else 1 / (1 + np.exp(-Z))


def _g_prime(name, Z, bug):
    if name == "tanh":
        return 1 - np.tanh(Z) if bug == "tanh_prime_not_squared" else 1 - np.tanh(Z) ** 2
    s = 1 / (1 + np.exp(-Z))
    return s * (1 - s)


def _make(bug=None):
    def backward(params, X, Y, activations, loss):
        m = X.shape[1]
        A, cache = X, []
        for (W, b), name in zip(params, activations):
            Z = W @ A + b  # b is (n, 1): it broadcasts over the samples
            cache.append((A, Z))
            A = _g(name, Z)
        dZ = (A - Y) / m  # bce through the sigmoid output
        if bug == "output_delta_uses_z":
            dZ = (cache[-1][1] - Y) / m
        grads = []
        for l in range(len(params) - 1, -1, -1):
            A_prev, _ = cache[l]
            db = dZ.sum(axis=1, keepdims=True)
            if bug == "db_not_averaged":
                db = db * m
            grads.append((dZ @ A_prev.T, db))
            if l:
                dZ = (params[l][0].T @ dZ) * _g_prime(activations[l - 1], cache[l - 1][1], bug)
        return grads[::-1]

    backward.supports = SUPPORTS
    return backward


backward = _make()
BUGGY = {bug: _make(bug) for bug in ("db_not_averaged", "tanh_prime_not_squared",
                                     "output_delta_uses_z")}  # fmt: skip
