"""Campaign bookkeeping: raises NotImplementedError on every call and declares no support, so
not a single case can be compared. Never a PASS: it refuses cases of the default support it is
audited on, a "raises" finding naming NotImplementedError (exit 1)."""


def backward(params, X, Y, activations, loss):
    raise NotImplementedError("not written yet")
