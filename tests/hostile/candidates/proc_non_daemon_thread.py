"""Process-level, correct: starts a non-daemon thread that never ends (it sleeps for 10
minutes), then returns the true gradient. The audit must end, PASS (exit 0), and leave no
process behind."""

import os
import threading
import time
from pathlib import Path

import reference


def _forever():
    time.sleep(600)


def backward(params, X, Y, activations, loss):
    marks = os.environ.get("HOSTILE_PID_DIR")
    if marks:
        Path(marks, str(os.getpid())).touch()
    threading.Thread(target=_forever, name="never-ends", daemon=False).start()
    return reference.backward(params, X, Y, activations, loss)
