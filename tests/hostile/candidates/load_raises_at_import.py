"""Loading: raises at import time. Exit 2, "could not load", the cause named."""

raise RuntimeError("hostile: this module refuses to be imported")


def backward(params, X, Y, activations, loss):
    return []
