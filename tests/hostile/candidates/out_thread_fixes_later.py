"""Outputs that change after return: returns zero buffers and starts a thread that writes the
true gradient into them 20 ms later. Judged by what it returned: all zeros. Exit 1,
"mismatch"."""

import threading
import time

import numpy as np

import reference


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    out = [(np.zeros_like(dW), np.zeros_like(db)) for dW, db in grads]

    def fix():
        time.sleep(0.02)
        for (oW, ob), (dW, db) in zip(out, grads):
            oW[...] = dW
            ob[...] = db

    threading.Thread(target=fix, daemon=True).start()
    return out
