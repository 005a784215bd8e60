"""Loading: KeyboardInterrupt at import time. Exit 2, "could not load", no traceback."""

raise KeyboardInterrupt


def backward(params, X, Y, activations, loss):
    return []
