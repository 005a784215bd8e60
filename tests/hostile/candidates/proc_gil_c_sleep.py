"""Process-level: C code that holds the GIL for a minute: libc's sleep(60) called through
ctypes.PyDLL (which does not release the GIL). Exit 1, "timeout", the worker killed at the
deadline."""

import ctypes
import os
from pathlib import Path


def backward(params, X, Y, activations, loss):
    marks = os.environ.get("HOSTILE_PID_DIR")
    if marks:
        Path(marks, str(os.getpid())).touch()
    ctypes.PyDLL(None).sleep(60)
    raise AssertionError("unreachable within the timeout")
