"""Tampering with its inputs: computes the correct gradient, then writes into W1, b1, X and Y
in place (W1 += 1, the rest zeroed) and returns the correct gradient. The caller's arrays must
be intact; the write is a finding. Exit 1, "mutates_inputs"."""

import reference


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    W1, b1 = params[0]
    W1 += 1.0
    b1[...] = 0.0
    X[...] = 0.0
    Y[...] = 0.0
    return grads
