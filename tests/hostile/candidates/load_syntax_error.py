"""Loading: a syntax error. Exit 2, "could not load". (Excluded from ruff: ../ruff.toml.)"""


def backward(params, X, Y, activations, loss)
    return []
