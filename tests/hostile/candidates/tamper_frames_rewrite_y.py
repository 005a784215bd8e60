"""Tampering: walks `sys._current_frames()` (every thread's stack) to any `Problem` object,
makes its Y writable and overwrites it (and the Y it was given) with the network's own output,
so that the true gradient of mse/bce becomes all zeros; returns all zeros. In the judging
process that passes; isolated, the caller's Problem is untouched: exit 1, "mismatch" (and
possibly "mutates_inputs" for the Y it was handed)."""

import contextlib
import sys

import numpy as np

import reference


def _problems():
    seen = set()
    for frame in sys._current_frames().values():
        while frame is not None:
            for value in list(frame.f_locals.values()):
                if type(value).__name__ == "Problem" and id(value) not in seen:
                    seen.add(id(value))
                    yield value
            frame = frame.f_back


def _overwrite(Y, output):
    with contextlib.suppress(Exception):
        Y.setflags(write=True)
    with contextlib.suppress(Exception):
        Y[...] = output


def backward(params, X, Y, activations, loss):
    for problem in _problems():
        try:
            cache = reference.forward(problem.params, problem.X, problem.spec.activations)
            _overwrite(problem.Y, cache[-1][1])
        except Exception:
            pass
    _overwrite(Y, reference.forward(params, X, activations)[-1][1])
    return [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
