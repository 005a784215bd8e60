"""Tampering: replaces `harness.compare.compare` and every alias of it in any loaded `harness.*`
module with a function that judges the true gradient instead of the candidate's output; returns
a gradient off by +1. Exit 1, "mismatch"."""

import sys

import numpy as np

import reference


def _true_gradient(problem):
    spec = problem.spec
    params = [(np.array(W), np.array(b)) for W, b in problem.params]
    return reference.backward(
        params, np.array(problem.X), np.array(problem.Y), list(spec.activations),
        spec.loss.name, half=spec.loss.half, reduction=spec.loss.reduction, l2=spec.l2,
    )  # fmt: skip


def _tamper():
    try:
        import harness.compare as compare_module
    except Exception:
        return
    original = getattr(compare_module, "compare", None)
    if original is None or getattr(original, "hostile", False):
        return

    def compare(problem, output, *args, **kwargs):
        return original(problem, _true_gradient(problem), *args, **kwargs)

    compare.hostile = True
    for name, module in list(sys.modules.items()):
        if name.startswith("harness") and getattr(module, "compare", None) is original:
            module.compare = compare


def backward(params, X, Y, activations, loss):
    _tamper()
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
