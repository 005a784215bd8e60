"""Plug-ins that break the contract rather than the mathematics, or break only in corner cases.

Each is a vectorized seed-001 backprop (``Z = W A_prev + b``, ``dJ_dZ = dJ_dA ⊙ g'(Z)``,
``dJ_dW = dJ_dZ A_prev^T``, ``dJ_db = Σ_samples dJ_dZ``, ``dJ_dA_prev = W^T dJ_dZ``) with its
elementwise g and g' from `tests.meta.einsum_style`, and one misbehaviour marked ``# BUG:``: a
float32 result, a bias of the wrong shape, a flat list, a crash on a batch of one, a NaN where
the sigmoid saturates, a write into the caller's targets, a call that never returns. The harness
must report each as its own kind of finding (shape, count, raises, nonfinite, mutates_inputs,
timeout), never broadcast it away or let it pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .einsum_style import G_PRIME, G

__all__ = [
    "bce_unsimplified_saturates",
    "bias_summed_over_wrong_axis",
    "float32_arrays_returned",
    "hangs",
    "only_weight_grads",
    "residual_in_place_on_Y",
    "squeeze_breaks_batch_of_one",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]


def _forward(params: Params, X: Array, activations: Sequence[str]) -> list[tuple[Array, Array]]:
    """[(Z1, A1), ..., (ZL, AL)]."""
    cache, A = [], X
    for (W, b), name in zip(params, activations):
        Z = W @ A + b[:, None]
        A = G[name](Z)
        cache.append((Z, A))
    return cache


def _output_dJ_dZ(loss: str, cache: list[tuple[Array, Array]], Y: Array, out: str) -> Array:
    """dJ/dZ^(L); bce with its sigmoid output in the simplified, saturation-proof form."""
    Z_L, A_L = cache[-1]
    m = Y.shape[1]
    if loss == "bce":
        return (A_L - Y) / m
    return 2.0 * (A_L - Y) / m * G_PRIME[out](Z_L)


def _walk(
    params: Params,
    X: Array,
    cache: list[tuple[Array, Array]],
    dJ_dZ: Array,
    activations: Sequence[str],
) -> Grads:
    """From dJ/dZ^(L) down to layer 1: [(dW1, db1), ...]."""
    grads = []
    for l in range(len(params), 0, -1):
        A_prev = X if l == 1 else cache[l - 2][1]
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        if l > 1:
            dJ_dZ = (params[l - 1][0].T @ dJ_dZ) * G_PRIME[activations[l - 2]](cache[l - 2][0])
    return grads[::-1]


def _gradients(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Grads:
    cache = _forward(params, X, activations)
    return _walk(params, X, cache, _output_dJ_dZ(loss, cache, Y, activations[-1]), activations)


def float32_arrays_returned(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Right values, returned as float32 arrays "to save memory".

    Every tensor has dtype float32 where the contract says float64: a dtype finding (kind
    shape) on every tensor.
    """
    grads = _gradients(params, X, Y, activations, loss)
    return [(dW.astype(np.float32), db.astype(np.float32)) for dW, db in grads]  # BUG: float64


def bias_summed_over_wrong_axis(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dJ_db summed over axis 0 (the units) instead of axis 1 (the samples): shape (m,).

    Every db has the batch's length instead of the layer's width: a shape finding on every bias
    (declared to run only where no layer is as wide as the batch; there it would be wrong values
    of the right shape).
    """
    cache = _forward(params, X, activations)
    dJ_dZ = _output_dJ_dZ(loss, cache, Y, activations[-1])
    grads = []
    for l in range(len(params), 0, -1):
        A_prev = X if l == 1 else cache[l - 2][1]
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=0)))  # BUG: axis=1 sums over samples
        if l > 1:
            dJ_dZ = (params[l - 1][0].T @ dJ_dZ) * G_PRIME[activations[l - 2]](cache[l - 2][0])
    return grads[::-1]


def only_weight_grads(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Returns [dW1, dW2, ...]: the bias gradients are left out of the result.

    Not a list of (dW, db) pairs: a whole-call count finding.
    """
    grads = _gradients(params, X, Y, activations, loss)
    return [dW for dW, _ in grads]  # type: ignore[misc]  # BUG: [(dW, db), ...]


def squeeze_breaks_batch_of_one(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dJ_dZ is ``np.squeeze``d "to tidy shapes": with one sample it loses its sample axis.

    Right on every batch of m > 1 where every layer has more than one unit; with m = 1 the next
    matmul raises (the harness reports the exception and the problem that triggered it).
    """
    cache = _forward(params, X, activations)
    dJ_dZ = _output_dJ_dZ(loss, cache, Y, activations[-1])
    grads = []
    for l in range(len(params), 0, -1):
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = np.squeeze(dJ_dZ)  # BUG: drops the sample axis when m == 1
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        if l > 1:
            dJ_dZ = (params[l - 1][0].T @ dJ_dZ) * G_PRIME[activations[l - 2]](cache[l - 2][0])
    return grads[::-1]


def bce_unsimplified_saturates(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """bce's dJ/da = -(1/m)(y/a - (1 - y)/(1 - a)), then times σ'(z): exact in theory.

    Where the output sigmoid saturates, a rounds to 1.0, (1 - y)/(1 - a) is 0/0 or 1/0 and
    σ'(z) is 0: NaN, which every layer below inherits. Right on moderate weights; declared on bce
    problems with large weights, where some output saturates: every tensor is non-finite.
    """
    cache = _forward(params, X, activations)
    Z_L, A_L = cache[-1]
    m = Y.shape[1]
    if loss == "bce":
        dJ_dA = -(Y / A_L - (1.0 - Y) / (1.0 - A_L)) / m  # BUG: 0/0 at a == 1; use (a - y)/m
        dJ_dZ = dJ_dA * G_PRIME["sigmoid"](Z_L)
    else:
        dJ_dZ = _output_dJ_dZ(loss, cache, Y, activations[-1])
    return _walk(params, X, cache, dJ_dZ, activations)


def residual_in_place_on_Y(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The residual is formed in place, ``E = Y; E -= A_L``, to save an allocation.

    E is the caller's Y, so the targets are overwritten by the residual: a whole-call
    mutates_inputs finding. The gradient itself is right.
    """
    cache = _forward(params, X, activations)
    Z_L, A_L = cache[-1]
    m = Y.shape[1]
    E = Y
    E -= A_L  # BUG: writes into the caller's Y; E = Y - A_L makes a new array
    dJ_dZ = -E / m if loss == "bce" else -2.0 * E / m * G_PRIME[activations[-1]](Z_L)
    return _walk(params, X, cache, dJ_dZ, activations)


def hangs(params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str) -> Grads:
    """A debugging pause left in: sleeps 10 s before returning the right gradient.

    The harness must abandon it after its timeout and report a whole-call timeout.
    """
    time.sleep(10.0)  # BUG: a leftover pause; the call must return promptly
    return _gradients(params, X, Y, activations, loss)
