"""Process-level: asks numpy for 10**12 float64s (8 TB): MemoryError at once. Exit 1,
"memory"."""

import numpy as np


def backward(params, X, Y, activations, loss):
    hog = np.ones(10**12)
    return [(hog[: W.size].reshape(W.shape), hog[: b.size]) for W, b in params]
