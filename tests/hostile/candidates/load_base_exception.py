"""Loading: a BaseException subclass (neither Exception nor SystemExit) at import time. Exit 2,
"could not load"."""


class Hostile(BaseException):
    pass


raise Hostile("not an Exception")


def backward(params, X, Y, activations, loss):
    return []
