"""Process-level: calls `os._exit(3)` inside backward. Exit 1, "crashed"."""

import os


def backward(params, X, Y, activations, loss):
    os._exit(3)
