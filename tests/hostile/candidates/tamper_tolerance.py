"""Tampering: makes the tolerance model (`harness.tolerance`: the float64 backprop bound, half an
ulp, and every alias of them in loaded `harness.*` modules) and the finite differences' bound
return 1e300 everywhere, so any value "agrees"; returns a gradient off by +1. Exit 1,
"mismatch"."""

import dataclasses
import sys

import numpy as np

import reference

HUGE = 1e300


def _huge_like(value):
    if isinstance(value, np.ndarray):
        return np.full(value.shape, HUGE)
    if isinstance(value, (list, tuple)):
        return type(value)(_huge_like(v) for v in value)
    return value


def _replace_everywhere(original, replacement):
    for name, module in list(sys.modules.items()):
        if not name.startswith("harness"):
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, replacement)


def _tamper():
    try:
        import harness.sources.finite_diff as finite_diff
        import harness.tolerance as tolerance
    except Exception:
        return
    if getattr(tolerance, "hostile", False):
        return
    tolerance.hostile = True
    for name in ("candidate_bound", "half_ulp"):
        original = getattr(tolerance, name, None)
        if callable(original):

            def huge(*args, _original=original, **kwargs):
                return _huge_like(_original(*args, **kwargs))

            _replace_everywhere(original, huge)
    estimate = getattr(finite_diff, "estimate", None)
    if callable(estimate):

        def loose_estimate(*args, **kwargs):
            result = estimate(*args, **kwargs)
            try:
                return dataclasses.replace(result, bound=_huge_like(result.bound))
            except Exception:
                return result

        _replace_everywhere(estimate, loose_estimate)


def backward(params, X, Y, activations, loss):
    _tamper()
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
