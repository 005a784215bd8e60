"""Process-level, correct: closes file descriptors 1 and 2 of the process running it, then
returns the true gradient. The harness's own output and verdict must survive. PASS (exit 0)."""

import contextlib
import os

import reference


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.close(fd)
    return grads
