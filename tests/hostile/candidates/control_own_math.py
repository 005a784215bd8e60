"""Control: a correct vectorized backprop written here (no `reference`), for the seeds'
conventions: sigmoid, tanh, relu, leaky_relu (0.01), identity, softplus; mse (no ½) and bce
(sigmoid output), both averaged over the m samples. Must PASS (exit 0)."""

import numpy as np


def _sigmoid(Z):
    return np.exp(-np.logaddexp(0.0, -Z))


G = {  # name: (g, g')
    "sigmoid": (_sigmoid, lambda Z: _sigmoid(Z) * _sigmoid(-Z)),
    "tanh": (np.tanh, lambda Z: 1.0 - np.tanh(Z) ** 2),
    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(float)),
    "leaky_relu": (lambda Z: np.where(Z > 0, Z, 0.01 * Z), lambda Z: np.where(Z > 0, 1.0, 0.01)),
    "identity": (lambda Z: Z, np.ones_like),
    "softplus": (lambda Z: np.logaddexp(0.0, Z), _sigmoid),
}


def backward(params, X, Y, activations, loss):
    if loss not in ("mse", "bce") or any(name not in G for name in activations):
        raise NotImplementedError(f"{loss} / {activations}")
    m = X.shape[1]
    A, cache = X, []
    for (W, b), name in zip(params, activations):
        Z = W @ A + b[:, None]
        cache.append((A, Z))
        A = G[name][0](Z)
    dJ_dA = 2.0 * (A - Y) / m  # mse; bce through its sigmoid output: dJ/dZ = (A - Y) / m
    dZ = (A - Y) / m if loss == "bce" else dJ_dA * G[activations[-1]][1](cache[-1][1])
    grads = []
    for l in range(len(params) - 1, -1, -1):
        A_prev, _ = cache[l]
        grads.append((dZ @ A_prev.T, dZ.sum(axis=1)))
        if l:
            dZ = (params[l][0].T @ dZ) * G[activations[l - 1]][1](cache[l - 1][1])
    return grads[::-1]
