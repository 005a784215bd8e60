"""Control: correct, but chatty: ~200 kB to stdout and some to stderr on every call. PASS."""

import sys

import reference


def backward(params, X, Y, activations, loss):
    for i in range(2000):
        print(f"debug {i:5d}: shapes {[W.shape for W, _ in params]} X {X.shape} " + "." * 40)
    print("layer norms computed", file=sys.stderr)
    return reference.backward(params, X, Y, activations, loss)
