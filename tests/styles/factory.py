"""A factory-made backprop (written for this project): ``make(loss)`` chooses the loss once and
returns a closure that handles tanh, sigmoid and relu layers, as small libraries and course code
build their functions. ``make()`` is right; ``make(bug=...)`` injects one of three bugs, and the
module builds ``buggy = make(bug="sigmoid_prime_of_a")`` at import, as a script would.

Audited from Python as ``check(make("mse"), problem)`` (the closure crosses to the worker by
value) and from the shell as ``factory.py:make()`` (the factory called with no arguments in the
worker) or ``factory.py:buggy`` (the object built at import)."""

from __future__ import annotations

import numpy as np

BUGS = ("sigmoid_prime_of_a", "mse_without_the_2", "output_delta_without_g_prime")


def _sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def make(loss="mse", bug=None):
    """The backward of every network with tanh / sigmoid / relu layers and ``loss``
    ("mse": Σ (a − y)² over the outputs, averaged over the samples; "bce": with a sigmoid
    output layer)."""
    if loss not in ("mse", "bce") or (bug is not None and bug not in BUGS):
        raise ValueError(f"make(loss={loss!r}, bug={bug!r})")
    g = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda Z: np.maximum(Z, 0)}

    def g_prime(name, Z, A):
        if name == "tanh":
            return 1 - A**2
        if name == "sigmoid":
            at = A if bug == "sigmoid_prime_of_a" else Z  # σ'(A) instead of σ'(Z)
            return _sigmoid(at) * (1 - _sigmoid(at))
        return (Z > 0).astype(float)

    def output_delta(A, Y, Z, name, m):
        if loss == "bce":  # through the sigmoid output: dZ = (A − Y) / m
            return (A - Y) / m
        two = 1 if bug == "mse_without_the_2" else 2
        if bug == "output_delta_without_g_prime":
            return two * (A - Y) / m
        return two * (A - Y) / m * g_prime(name, Z, A)

    def backward(params, X, Y, activations, loss_name):
        if loss_name != loss or (loss == "bce" and activations[-1] != "sigmoid"):
            raise NotImplementedError(f"made for {loss}; got {loss_name}, {activations}")
        m = X.shape[1]
        A, cache = X, []
        for (W, b), name in zip(params, activations):
            Z = W @ A + b[:, None]
            cache.append((A, Z, g[name](Z)))
            A = cache[-1][2]
        A_prev, Z, A = cache[-1]
        dZ = output_delta(A, Y, Z, activations[-1], m)
        grads = []
        for l in range(len(params) - 1, -1, -1):
            A_prev = cache[l][0]
            grads.append((dZ @ A_prev.T, dZ.sum(axis=1)))
            if l:
                _, Z_prev, A_below = cache[l - 1]
                dZ = (params[l][0].T @ dZ) * g_prime(activations[l - 1], Z_prev, A_below)
        return grads[::-1]

    backward.supports = {"activations": ["tanh", "sigmoid", "relu"], "losses": [loss]}
    return backward


buggy = make(bug="sigmoid_prime_of_a")
