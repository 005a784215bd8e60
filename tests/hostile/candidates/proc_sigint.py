"""Process-level: sends SIGINT to its own process, waits a second, then returns a gradient off
by +1 (in case the signal was ignored). Whatever the signal does to the process running it, the
verdict is a finding: exit 1, "crashed", "raises" or "mismatch"."""

import os
import signal
import time

import reference


def backward(params, X, Y, activations, loss):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1.0)
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
