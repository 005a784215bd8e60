"""Campaign bookkeeping: the first call in a process raises (a lazy initialisation that fails
once), every later call is correct. A flaky failure must become a finding with a report, not
Hypothesis's FlakyFailure traceback. Exit 1, "raises" or "nondeterministic"."""

import reference

_calls = []


def backward(params, X, Y, activations, loss):
    _calls.append(None)
    if len(_calls) == 1:
        raise RuntimeError("cache not warmed up yet")
    return reference.backward(params, X, Y, activations, loss)
