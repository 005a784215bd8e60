"""Tampering: on its first call, replaces `harness.campaign.compare` with a function that judges
the *true* gradient (computed here from the Problem) instead of the candidate's output, then
returns a gradient off by +1 everywhere. In the judging process that passes; isolated, exit 1,
"mismatch"."""

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
        import harness.campaign as campaign
    except Exception:
        return
    original = getattr(campaign, "compare", None)
    if original is None or getattr(original, "hostile", False):
        return

    def compare(problem, output, *args, **kwargs):
        return original(problem, _true_gradient(problem), *args, **kwargs)

    compare.hostile = True
    campaign.compare = compare


def backward(params, X, Y, activations, loss):
    _tamper()
    grads = reference.backward(params, X, Y, activations, loss)
    return [(dW + 1.0, db + 1.0) for dW, db in grads]
