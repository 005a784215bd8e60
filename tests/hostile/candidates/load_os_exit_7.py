"""Loading: `os._exit(7)` at import time. Exit 2 (never 7), "could not load"."""

import os

os._exit(7)


def backward(params, X, Y, activations, loss):
    return []
