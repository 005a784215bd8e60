"""Process-level: an address-space hog. Reserves 1 GiB blocks (never touched: no RAM used)
until the allocator refuses, keeps them all, then returns a gradient off by +1. The process
that ran it can then no longer start a thread or map memory ("can't start new thread"). Exit 1:
"memory", "crashed" or "mismatch", with a report, never a traceback."""

import numpy as np

import reference

_HOARD = []


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)
    wrong = [(dW + 1.0, db + 1.0) for dW, db in grads]
    try:
        for _ in range(200_000):  # at most ~200 TiB of address space
            _HOARD.append(np.empty(2**27))  # 1 GiB, untouched
    except MemoryError:
        pass
    return wrong
