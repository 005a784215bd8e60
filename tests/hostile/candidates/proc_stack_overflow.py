"""Process-level: a C-stack overflow. With the recursion limit lifted, a function that recurses
through a C builtin (map) exhausts the C stack: SIGSEGV. Exit 1, "crashed"."""

import sys


def _deeper(n):
    return list(map(_deeper, [n + 1]))


def backward(params, X, Y, activations, loss):
    sys.setrecursionlimit(1_000_000_000)
    return _deeper(0)
