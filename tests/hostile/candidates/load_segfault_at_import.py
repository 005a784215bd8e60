"""Loading: a segfault at import time (ctypes NULL dereference). Exit 2, "could not load"
(the cause: killed by SIGSEGV)."""

import ctypes

ctypes.string_at(0)


def backward(params, X, Y, activations, loss):
    return []
