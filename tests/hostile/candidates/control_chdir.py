"""Control: correct, but changes the working directory (to the filesystem root) on every call.
Run with a relative --report-dir: the report must still land where the caller asked. PASS."""

import os

import reference


def backward(params, X, Y, activations, loss):
    os.chdir(os.path.abspath(os.sep))
    return reference.backward(params, X, Y, activations, loss)
