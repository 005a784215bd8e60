"""A student's two-layer MLP, backprop written by hand with loops (correct).

The way a first course writes it: one sample at a time, one unit at a time, ``math`` instead of
numpy, the student's own names (``w_hidden``, ``delta_out``). It follows the harness's plug-in
contract (DESIGN.md): ``backward(params, X, Y, activations, loss)`` with columns as samples,
``W`` of shape (n_out, n_in), and returns ``[(dW1, db1), (dW2, db2)]`` of the mean loss.

    python examples/student_mlp.py                        # a short audit, exit 0 when it passes
    gradcheck-harness audit examples/student_mlp.py:backward
"""

from __future__ import annotations

import math
import sys

import numpy as np


def sigmoid(x):
    if x >= 0:  # two branches, so that exp never overflows
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# activation: (g, g' written with the activation's output a = g(z))
FUNCTIONS = {
    "tanh": (math.tanh, lambda a: 1.0 - a * a),
    "sigmoid": (sigmoid, lambda a: a * (1.0 - a)),
}


def backward(params, X, Y, activations, loss):
    (w_hidden, b_hidden), (w_out, b_out) = params
    n_in, m = X.shape
    n_hidden, n_out = len(b_hidden), len(b_out)
    g1, g1_prime = FUNCTIONS[activations[0]]
    g2, g2_prime = FUNCTIONS[activations[1]]

    dw_hidden = np.zeros((n_hidden, n_in))
    db_hidden = np.zeros(n_hidden)
    dw_out = np.zeros((n_out, n_hidden))
    db_out = np.zeros(n_out)

    for s in range(m):
        x = [X[i, s] for i in range(n_in)]
        y = [Y[k, s] for k in range(n_out)]

        # forward
        hidden = []
        for j in range(n_hidden):
            z = b_hidden[j]
            for i in range(n_in):
                z += w_hidden[j, i] * x[i]
            hidden.append(g1(z))
        output = []
        for k in range(n_out):
            z = b_out[k]
            for j in range(n_hidden):
                z += w_out[k, j] * hidden[j]
            output.append(g2(z))

        # backward: the error at each output unit
        delta_out = []
        for k in range(n_out):
            if loss == "bce":  # sigmoid output: dC/da * g'(z) simplifies to a - y
                delta_out.append(output[k] - y[k])
            else:  # mse: C = sum_k (a_k - y_k)^2, no 1/2
                delta_out.append(2.0 * (output[k] - y[k]) * g2_prime(output[k]))
        delta_hidden = []
        for j in range(n_hidden):
            total = 0.0
            for k in range(n_out):
                total += w_out[k, j] * delta_out[k]
            delta_hidden.append(total * g1_prime(hidden[j]))

        # accumulate, averaged over the samples
        for k in range(n_out):
            db_out[k] += delta_out[k] / m
            for j in range(n_hidden):
                dw_out[k, j] += delta_out[k] * hidden[j] / m
        for j in range(n_hidden):
            db_hidden[j] += delta_hidden[j] / m
            for i in range(n_in):
                dw_hidden[j, i] += delta_hidden[j] * x[i] / m

    return [(dw_hidden, db_hidden), (dw_out, db_out)]


# What this code implements: two layers, tanh or sigmoid in each, mse or bce. The harness draws
# architectures only there.
backward.supports = {"activations": ["tanh", "sigmoid"], "losses": ["mse", "bce"], "depths": [2]}


if __name__ == "__main__":
    from harness import audit

    report = audit(backward, examples=40, seed=0)
    print(report)
    sys.exit(0 if report.passed else 1)
