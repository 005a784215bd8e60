"""Campaign bookkeeping: the first call in a process takes 8 s (a JIT warm-up past
--timeout 3), later calls are fast and correct. Exit 1, "timeout" or "nondeterministic", with a
report, no FlakyFailure traceback."""

import os
import time
from pathlib import Path

import reference

_calls = []


def backward(params, X, Y, activations, loss):
    _calls.append(None)
    if len(_calls) == 1:
        marks = os.environ.get("HOSTILE_PID_DIR")
        if marks:
            Path(marks, str(os.getpid())).touch()
        time.sleep(8.0)
    return reference.backward(params, X, Y, activations, loss)
