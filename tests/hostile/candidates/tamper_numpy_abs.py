"""Tampering: replaces `numpy.abs` with a function that returns zeros when its caller is
`harness.compare` (so every |Δ| is 0) and the true absolute value anywhere else; returns a
gradient off by +1. Exit 1, "mismatch"."""

import sys

import numpy as np

import reference

_real_abs = np.abs


def _abs(x, *args, **kwargs):
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller == "harness.compare":
        return np.zeros_like(_real_abs(x, *args, **kwargs))
    return _real_abs(x, *args, **kwargs)


def backward(params, X, Y, activations, loss):
    np.abs = _abs
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
