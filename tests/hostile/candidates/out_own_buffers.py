"""Outputs that change after return: a workspace-reuse bug. The function returns its own
per-architecture buffers; on the first call of each architecture it forgets to fill them
(zeros, wrong); the second call fills the same buffers, which changes what the first call
returned. Read at return, the first call is wrong. Exit 1, "nondeterministic" or "mismatch"."""

import numpy as np

import reference

_WORKSPACE = {}


def backward(params, X, Y, activations, loss):
    key = (tuple(W.shape for W, _ in params), tuple(activations), loss)
    buffers = _WORKSPACE.get(key)
    if buffers is None:  # the bug: a fresh workspace is returned before it is filled
        buffers = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
        _WORKSPACE[key] = buffers
        return buffers
    for (bW, bb), (dW, db) in zip(buffers, reference.backward(params, X, Y, activations, loss)):
        bW[...] = dW
        bb[...] = db
    return buffers
