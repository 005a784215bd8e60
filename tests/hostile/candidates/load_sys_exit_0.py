"""Loading: `sys.exit(0)` at import time. Exit 2 (never 0), "could not load"."""

import sys

sys.exit(0)


def backward(params, X, Y, activations, loss):
    return []
