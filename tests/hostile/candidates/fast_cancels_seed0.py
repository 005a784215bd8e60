"""Fast mode: knows the direction a fixed seed 0 gives (numpy.random.default_rng(0), a ±1
entry per parameter, layer by layer, W then b) and puts errors on layer 1's dW in adjacent
pairs (2k, 2k+1) that cancel along it: e[2k] = δ v[2k], e[2k+1] = -δ v[2k+1], each entry off by
more than 100 %. Along seed 0 every dyadic piece of two or more entries sees no error. With a
direction seed from the OS the errors no longer cancel: `--fast` exit 1, "mismatch"."""

import numpy as np

import reference


def _direction(params, seed=0):
    rng = np.random.default_rng(seed)
    return [
        tuple(np.where(rng.integers(0, 2, size=t.shape) == 1, 1.0, -1.0) for t in (W, b))
        for W, b in params
    ]


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    dW1, db1 = grads[0]
    v = _direction(params)[0][0].ravel()
    g = dW1.ravel().copy()
    for k in range(0, g.size - 1, 2):
        delta = 2.0 * max(abs(g[k]), abs(g[k + 1])) + 1e-3
        g[k] += delta * v[k]
        g[k + 1] -= delta * v[k + 1]
    grads[0] = (g.reshape(dW1.shape), db1)
    return grads
