"""Control: correct, but changes process-wide state on every call: numpy print options,
numpy's floating-point error mode (raise), the global numpy and `random` seeds, warnings
turned into errors, an environment variable. Inside its own worker none of it may reach the
harness. PASS."""

import os
import random
import warnings

import numpy as np

import reference


def backward(params, X, Y, activations, loss):
    grads = reference.backward(params, X, Y, activations, loss)  # before the state changes
    np.set_printoptions(precision=1, threshold=3, linewidth=20, suppress=True)
    np.seterr(all="raise")
    np.random.seed(1234)
    random.seed(1234)
    warnings.simplefilter("error")
    os.environ["OMP_NUM_THREADS"] = "7"
    return grads
