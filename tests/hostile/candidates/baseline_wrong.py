"""Control (negative): a plainly wrong gradient, every entry off by +1. Exit 1, "mismatch"."""

import reference


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
