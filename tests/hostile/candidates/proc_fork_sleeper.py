"""Process-level, correct: forks a child that sleeps for two minutes (holding every file
descriptor it inherited), then returns the true gradient. The audit must end, PASS (exit 0),
and leave no process behind."""

import os
import time
from pathlib import Path

import reference


def backward(params, X, Y, activations, loss):
    pid = os.fork()
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    marks = os.environ.get("HOSTILE_PID_DIR")
    if marks:
        Path(marks, str(pid)).touch()
        Path(marks, str(os.getpid())).touch()
    return reference.backward(params, X, Y, activations, loss)
