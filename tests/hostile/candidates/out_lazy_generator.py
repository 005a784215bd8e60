"""Outputs that are lazy: returns a generator of (dW, db) pairs, each off by +1. It can be read
once only. Exit 1 ("mismatch" when read once, or refused as "count"/"dtype")."""

import reference


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    return ((dW + 1.0, db + 1.0) for dW, db in grads)
