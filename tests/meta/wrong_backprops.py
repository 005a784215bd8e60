"""Deliberately wrong backprops: one realistic bug each, and where that bug lives.

Each ``backward(params, X, Y, activations, loss) -> [(dW1, db1), ...]`` follows the plug-in
contract of DESIGN.md and is written the way a student writes a full vectorized backprop after
seed 001: a forward pass that caches (Z, A), the output's dJ_dA, then the walk down the layers
with ``dJ_dZ = dJ_dA ⊙ g'(Z)``, ``dJ_dW = dJ_dZ A_prev^T``, ``dJ_dB = Σ_samples dJ_dZ`` and
``dJ_dA_prev = W^T dJ_dZ``. Nothing comes from `harness` or `reference`: a bug here cannot leak
into the sources that are supposed to catch it, and a fix there cannot hide one here. The line
with the bug is marked ``# BUG:``.

Every one returns float64 arrays of exactly the parameters' shapes, so only a comparison of
*values* catches it. `WRONG_BACKPROPS` maps each name to a `WrongBackprop`, which declares

- ``affected(spec)``: the (layer, "W" | "b") pairs whose gradient the bug changes, layers numbered
  1..L as in the seeds (for a batch of more than one sample and generic parameters); every other
  tensor is exactly right;
- ``runs_on(spec)``: the specs it is declared to run on (a bug that mixes up two layers' matrices
  only gets past numpy's shape checks when the shapes fit).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["WRONG_BACKPROPS", "SpecLike", "WrongBackprop"]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]
Backward = Callable[[Params, Array, Array, Sequence[str], str], Grads]
#: (layer, "W" | "b") pairs, layers numbered 1..L.
Blame = set[tuple[int, str]]


class SpecLike(Protocol):
    """What the metadata reads from a spec (`harness.spec.NetworkSpec` has it)."""

    @property
    def sizes(self) -> tuple[int, ...]: ...

    @property
    def activations(self) -> tuple[str, ...]: ...

    @property
    def loss(self) -> str: ...


def _always(spec: SpecLike) -> bool:
    return True


@dataclass(frozen=True)
class WrongBackprop:
    """A backprop with one bug, its description, and where the bug shows."""

    name: str
    backward: Backward
    description: str
    affected: Callable[[SpecLike], Blame]
    runs_on: Callable[[SpecLike], bool] = _always

    def visible_on(self, spec: SpecLike) -> bool:
        """True when it runs on ``spec`` and the bug changes at least one tensor there."""
        return self.runs_on(spec) and bool(self.affected(spec))


WRONG_BACKPROPS: dict[str, WrongBackprop] = {}


def _wrong(
    affected: Callable[[SpecLike], Blame], runs_on: Callable[[SpecLike], bool] = _always
) -> Callable[[Backward], Backward]:
    """Register a wrong backward under its function name, its docstring as the description."""

    def register(backward: Backward) -> Backward:
        name = backward.__name__
        description = inspect.cleandoc(backward.__doc__ or "")
        WRONG_BACKPROPS[name] = WrongBackprop(name, backward, description, affected, runs_on)
        return backward

    return register


# --- where bugs live -------------------------------------------------------------------------


def _every_tensor(spec: SpecLike) -> Blame:
    return {(l, t) for l in range(1, len(spec.sizes)) for t in ("W", "b")}


def _every_bias(spec: SpecLike) -> Blame:
    return {(l, "b") for l in range(1, len(spec.sizes))}


def _layers_up_to(top: int) -> Blame:
    return {(l, t) for l in range(1, top + 1) for t in ("W", "b")}


def _at_or_below_a(names: frozenset[str]) -> Callable[[SpecLike], Blame]:
    """Every layer whose gradient passes through g' of a layer with one of these activations."""

    def affected(spec: SpecLike) -> Blame:
        layers = [l for l, name in enumerate(spec.activations, start=1) if name in names]
        return _layers_up_to(max(layers, default=0))

    return affected


def _non_vector_weights(spec: SpecLike) -> Blame:
    # A (1, k) or (k, 1) matrix reads the same transposed-and-reshaped.
    return {
        (l, "W")
        for l, (n_prev, n_l) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:]), start=1)
        if n_l > 1 and n_prev > 1
    }


def _first_layer(spec: SpecLike) -> Blame:
    return _layers_up_to(1)


def _below_the_top(spec: SpecLike) -> Blame:
    return _layers_up_to(len(spec.sizes) - 2)


def _all_widths_equal(spec: SpecLike) -> bool:
    return len(set(spec.sizes)) == 1


def _mse_only(spec: SpecLike) -> Blame:
    return _every_tensor(spec) if spec.loss == "mse" else set()


# --- the student's toolbox: activations, derivatives, forward, output gradient --------------


def _sigmoid(Z: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-Z)))


_G: dict[str, Callable[[Array], Array]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda Z: np.maximum(Z, 0.0),
    "leaky_relu": lambda Z: np.where(Z > 0, Z, 0.01 * Z),
    "identity": lambda Z: Z,
    "softplus": lambda Z: np.log1p(np.exp(Z)),
}

# g' written in terms of Z, as in seed 001.
_G_PRIME: dict[str, Callable[[Array], Array]] = {
    "sigmoid": lambda Z: _sigmoid(Z) * (1.0 - _sigmoid(Z)),
    "tanh": lambda Z: 1.0 - np.tanh(Z) ** 2,
    "relu": lambda Z: (Z > 0).astype(np.float64),
    "leaky_relu": lambda Z: np.where(Z > 0, 1.0, 0.01),
    "identity": np.ones_like,
    "softplus": _sigmoid,
}


def _forward(params: Params, X: Array, activations: Sequence[str]) -> list[tuple[Array, Array]]:
    """The cache [(Z1, A1), ..., (ZL, AL)]."""
    cache = []
    A = X
    for (W, b), name in zip(params, activations):
        Z = W @ A + b[:, None]
        A = _G[name](Z)
        cache.append((Z, A))
    return cache


def _output_dJ_dA(loss: str, A_L: Array, Y: Array, m: int) -> Array:
    """dJ/dA^(L): mse 2(a - y)/m; bce -(1/m)(y/a - (1 - y)/(1 - a)) (seed 001)."""
    if loss == "mse":
        return 2.0 * (A_L - Y) / m
    return -(Y / A_L - (1.0 - Y) / (1.0 - A_L)) / m


# --- the wrong backprops -----------------------------------------------------------------------


@_wrong(affected=_non_vector_weights)
def transposed_dW(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dJ_dW as ``A_prev @ dJ_dZ.T`` (the rows-as-samples formula), reshaped to W's shape.

    For a square W that is dJ_dW transposed; otherwise its entries are scrambled. The reshape
    keeps the shape right. Lives in every dW of a matrix with more than one row and more than one
    column (a single row or column reads the same either way); the biases are right.
    """
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    dJ_dA = _output_dJ_dA(loss, cache[-1][1], Y, m)
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](Z)
        dJ_dW = (A_prev @ dJ_dZ.T).reshape(W.shape)  # BUG: should be dJ_dZ @ A_prev.T
        dJ_dB = dJ_dZ.sum(axis=1)
        grads.append((dJ_dW, dJ_dB))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


@_wrong(affected=_every_tensor)
def missing_1_over_m(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The output gradient summed over samples instead of averaged: the 1/m is missing.

    Every gradient comes out m times too large, so every tensor of every layer is off (when the
    batch has more than one sample).
    """
    cache = _forward(params, X, activations)
    L = len(params)
    A_L = cache[-1][1]
    # BUG: summed over samples; both losses' dJ_dA should be divided by m = X.shape[1]
    dJ_dA = 2.0 * (A_L - Y) if loss == "mse" else -(Y / A_L - (1.0 - Y) / (1.0 - A_L))
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](Z)
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


@_wrong(affected=_at_or_below_a(frozenset({"sigmoid"})))
def sigmoid_prime_is_sigmoid(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """σ'(z) written as σ(z) instead of σ(z)(1 - σ(z)).

    Lives in every layer whose gradient passes through a sigmoid's derivative: the topmost sigmoid
    layer and every layer below it (with bce the output is a sigmoid, so that is every layer).
    Layers above the topmost sigmoid are right.
    """
    g_prime = {**_G_PRIME, "sigmoid": _sigmoid}  # BUG: σ' = σ(1 - σ), not σ
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    dJ_dA = _output_dJ_dA(loss, cache[-1][1], Y, m)
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * g_prime[activations[l - 1]](Z)
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


@_wrong(affected=_every_bias)
def bias_mean_over_samples(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """dJ_dB as the mean of dJ_dZ over samples, though dJ_dZ already carries the 1/m.

    Every bias gradient is m times too small; every dW is right.
    """
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    dJ_dA = _output_dJ_dA(loss, cache[-1][1], Y, m)
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](Z)
        dJ_dW = dJ_dZ @ A_prev.T
        dJ_dB = dJ_dZ.mean(axis=1)  # BUG: should be dJ_dZ.sum(axis=1)
        grads.append((dJ_dW, dJ_dB))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


@_wrong(affected=_below_the_top, runs_on=_all_widths_equal)
def backward_sum_uses_own_W(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The backward sum uses W^(l) instead of W^(l+1): dJ_dA^(l) = W^(l)^T dJ_dZ^(l+1).

    An off-by-one between the seeds' 1-based layers and the 0-based list of parameters. The top
    layer is right; every layer below it is off. numpy only lets it through when the widths fit,
    so it is declared to run only where all widths are equal.
    """
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    Z_L, A_L = cache[-1]
    dJ_dZ = _output_dJ_dA(loss, A_L, Y, m) * _G_PRIME[activations[-1]](Z_L)
    grads = []
    for l in range(L, 0, -1):
        A_prev = X if l == 1 else cache[l - 2][1]
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        if l > 1:
            # BUG: W^(l-1) = params[l - 2]; dJ_dA^(l-1) = W^(l)^T dJ_dZ^(l) needs params[l - 1]
            dJ_dA = params[l - 2][0].T @ dJ_dZ
            dJ_dZ = dJ_dA * _G_PRIME[activations[l - 2]](cache[l - 2][0])
    return grads[::-1]


@_wrong(affected=_first_layer)
def first_layer_skipped(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The backward loop stops one layer early, so layer 1 keeps its zero-initialised gradient.

    Lives in dW1 and db1 only; every layer above is right.
    """
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    dJ_dA = _output_dJ_dA(loss, cache[-1][1], Y, m)
    grads = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    for l in range(L, 1, -1):  # BUG: should be range(L, 0, -1)
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](Z)
        grads[l - 1] = (dJ_dZ @ cache[l - 2][1].T, dJ_dZ.sum(axis=1))
        dJ_dA = W.T @ dJ_dZ
    return grads


@_wrong(affected=_every_tensor)
def bias_dropped_in_forward(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The forward pass computes Z = W A_prev, without + b.

    The backward formulas are right, but evaluated at the wrong activations, so every tensor of
    every layer is off (the bias gradients are still computed, from the wrong dJ_dZ).
    """
    cache = []
    A = X
    for (W, _), name in zip(params, activations):
        Z = W @ A  # BUG: should be W @ A + b[:, None]
        A = _G[name](Z)
        cache.append((Z, A))
    m = X.shape[1]
    L = len(params)
    dJ_dA = _output_dJ_dA(loss, cache[-1][1], Y, m)
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](Z)
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


@_wrong(affected=_at_or_below_a(frozenset({"sigmoid", "tanh", "softplus"})))
def g_prime_of_A(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """g' evaluated at the cached activation A instead of the pre-activation Z.

    For relu, leaky_relu and identity g'(a) = g'(z) (a has z's sign), so the bug hides there; it
    lives in the topmost sigmoid, tanh or softplus layer and every layer below it.
    """
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    dJ_dA = _output_dJ_dA(loss, cache[-1][1], Y, m)
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        _, A = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](A)  # BUG: g' takes Z, not A
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


@_wrong(affected=_every_tensor)
def output_delta_sign_flipped(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The output gradient with the wrong sign: 2(y - a)/m for mse, bce's leading minus dropped.

    That is the direction of descent, not the gradient: every tensor of every layer is negated.
    """
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    A_L = cache[-1][1]
    # BUG: the opposite sign for both losses; mse is 2(a - y)/m, bce starts with -(1/m)
    dJ_dA = 2.0 * (Y - A_L) / m if loss == "mse" else (Y / A_L - (1.0 - Y) / (1.0 - A_L)) / m
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](Z)
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


@_wrong(affected=_mse_only)
def mse_with_half_convention(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """The mse output gradient as (a - y)/m, the derivative of the ½(a - y)² convention.

    DESIGN's mse has no ½, so with mse every tensor of every layer is half its value; bce is right.
    """
    cache = _forward(params, X, activations)
    m = X.shape[1]
    L = len(params)
    A_L = cache[-1][1]
    # BUG: for mse, J = (1/m) Σ (a - y)² has dJ/da = 2(a - y)/m
    dJ_dA = (A_L - Y) / m if loss == "mse" else _output_dJ_dA(loss, A_L, Y, m)
    grads = []
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        Z, _ = cache[l - 1]
        A_prev = X if l == 1 else cache[l - 2][1]
        dJ_dZ = dJ_dA * _G_PRIME[activations[l - 1]](Z)
        grads.append((dJ_dZ @ A_prev.T, dJ_dZ.sum(axis=1)))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]
