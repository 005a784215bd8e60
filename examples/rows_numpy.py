"""A numpy network written with samples as rows, audited through `harness.adapters.from_rows`.

Most numpy code (and most courses after the first) keeps a batch as rows: ``X`` is (m, n0),
a layer's weights ``W`` are (n_in, n_out), ``Z = A @ W + b``. The harness's contract has columns
as samples; `from_rows` transposes on the way in and out, so this code is audited as written.
It supports any depth, four activations, mse and bce (a sigmoid output), and L2 weight decay
is not part of it.

    python examples/rows_numpy.py                         # a short audit, exit 0 when it passes
    gradcheck-harness audit examples/rows_numpy.py:backward --layout rows
"""

from __future__ import annotations

import sys

import numpy as np


def sigmoid(Z):
    return np.exp(-np.logaddexp(0.0, -Z))  # never overflows


ACTIVATIONS = {  # name: (g, g' as a function of Z)
    "sigmoid": (sigmoid, lambda Z: sigmoid(Z) * sigmoid(-Z)),
    "tanh": (np.tanh, lambda Z: 1.0 - np.tanh(Z) ** 2),
    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(Z.dtype)),
    "identity": (lambda Z: Z, np.ones_like),
}


def forward(params, X, activations):
    """The layers' inputs and pre-activations, and the output."""
    A, cache = X, []
    for (W, b), name in zip(params, activations):
        Z = A @ W + b  # (m, n_out)
        cache.append((A, Z))
        A = ACTIVATIONS[name][0](Z)
    return A, cache


def backward(params, X, Y, activations, loss):
    """dJ/dW and dJ/db of the mean loss over the m rows of X; W (n_in, n_out), b (n_out,)."""
    A, cache = forward(params, X, activations)
    m = X.shape[0]
    if loss == "bce":  # sigmoid output: the output delta simplifies to (A - Y) / m
        dZ = (A - Y) / m
    else:  # mse: J = sum over outputs of (A - Y)^2, mean over samples
        dZ = 2.0 * (A - Y) / m * ACTIVATIONS[activations[-1]][1](cache[-1][1])
    grads = []
    for l in reversed(range(len(params))):
        A_prev, _ = cache[l]
        grads.append((A_prev.T @ dZ, dZ.sum(axis=0)))
        if l > 0:
            W = params[l][0]
            dZ = (dZ @ W.T) * ACTIVATIONS[activations[l - 1]][1](cache[l - 1][1])
    return grads[::-1]


backward.supports = {"activations": list(ACTIVATIONS), "losses": ["mse", "bce"]}


if __name__ == "__main__":
    from harness import audit
    from harness.adapters import from_rows

    report = audit(from_rows(backward), examples=40, seed=0)
    print(report)
    sys.exit(0 if report.passed else 1)
