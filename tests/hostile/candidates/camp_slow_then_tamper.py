"""Campaign bookkeeping: the first call in a process sleeps 5 s (past --timeout 3) and, when it
wakes (in the harness's process: on an abandoned thread, while later cases are being judged),
patches `harness.case.CaseResult.passed` to True; every later call returns a gradient off by
+1. Exit 1, "timeout", "mismatch" or "nondeterministic"."""

import time

import reference

_calls = []


def _tamper():
    try:
        import harness.case as case

        case.CaseResult.passed = property(lambda self: True)
    except Exception:
        pass


def backward(params, X, Y, activations, loss):
    _calls.append(None)
    if len(_calls) == 1:
        time.sleep(5.0)
        _tamper()
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
