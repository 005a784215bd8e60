"""Process-level: a catastrophic regex backtrack, (a+)+$ on 'a' * 64 + 'b': C code that holds
the GIL for ~2**64 steps. Exit 1, "timeout", the worker killed at the deadline."""

import os
import re
from pathlib import Path


def backward(params, X, Y, activations, loss):
    marks = os.environ.get("HOSTILE_PID_DIR")
    if marks:
        Path(marks, str(os.getpid())).touch()
    re.match(r"(a+)+$", "a" * 64 + "b")
    raise AssertionError("unreachable")
