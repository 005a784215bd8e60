"""Process-level: calls `os._exit(0)` inside backward (no exception, no cleanup, status 0).
Exit 1, "crashed"."""

import os


def backward(params, X, Y, activations, loss):
    os._exit(0)
