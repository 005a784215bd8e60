"""Process-level: dereferences NULL through ctypes: SIGSEGV. Exit 1, "crashed" (killed by
SIGSEGV)."""

import ctypes


def backward(params, X, Y, activations, loss):
    ctypes.string_at(0)
