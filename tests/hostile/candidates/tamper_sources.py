"""Tampering: replaces the three gradient sources (`harness.sources.closed_form.gradients`,
`symbolic.gradients`, `finite_diff.estimate`) so that they report the candidate's own wrong
values (the true gradient + 1), then returns that gradient. Exit 1, "mismatch"."""

import dataclasses

import reference

SHIFT = 1.0


def _shifted(grads):
    return [(dW + SHIFT, db + SHIFT) for dW, db in grads]


def _tamper():
    try:
        from harness.sources import closed_form, finite_diff, symbolic
    except Exception:
        return
    if getattr(closed_form, "hostile", False):
        return
    closed_form.hostile = True
    original_closed = closed_form.gradients
    original_symbolic = symbolic.gradients
    original_estimate = finite_diff.estimate

    def closed(problem, *args, **kwargs):
        return _shifted(original_closed(problem, *args, **kwargs))

    def symbolic_gradients(problem, *args, **kwargs):
        result = original_symbolic(problem, *args, **kwargs)
        if isinstance(result, list):
            return _shifted(result)
        try:
            return dataclasses.replace(result, grads=_shifted(result.grads))
        except Exception:
            return result

    def estimate(problem, *args, **kwargs):
        result = original_estimate(problem, *args, **kwargs)
        try:
            return dataclasses.replace(result, grads=_shifted(result.grads))
        except Exception:
            return result

    closed_form.gradients = closed
    symbolic.gradients = symbolic_gradients
    finite_diff.estimate = estimate


def backward(params, X, Y, activations, loss):
    _tamper()
    return _shifted(reference.backward(params, X, Y, activations, loss))
