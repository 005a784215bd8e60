"""An MLP written as a manual ``backward`` for PyTorch modules: rows are samples, ``nn.Linear``
weights are (out_features, in_features) and ``pre = h @ weight.T + bias``; the loss is
``F.mse_loss(out, y)``, whose default reduction averages over *every element* (N·n_out of them).

In the harness's terms that is ``Loss("mse", reduction="elementwise_mean")``. Activations come by
name, with torch's defaults and spellings: ``gelu`` (exact, erf), ``silu``, ``elu`` (alpha = 1),
``leaky_relu`` (negative_slope 0.01) and ``leaky_relu(α)``, ``tanh``, ``sigmoid``, ``identity``;
each derivative is written here (``DERIV``), from the formulas people look up::

    gelu'(z) = Φ(z) + z·φ(z)       silu'(z) = σ(z)·(1 + z·(1 - σ(z)))
    elu'(z)  = 1 if z > 0 else e^z leaky_relu'(z) = 1 if z > 0 else negative_slope

`elementwise_mse` is right; each other function swaps one derivative for a wrong one, marked
``# BUG:``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ACT",
    "DERIV",
    "elementwise_mse",
    "elu_prime_negative_side",
    "gelu_prime_missing_pdf_term",
    "leaky_default_slope_in_derivative",
    "silu_prime_as_sigmoid",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]
Grads = list[tuple[Array, Array]]
Deriv = Callable[[str, Array], Array]

_erf = np.vectorize(math.erf, otypes=[np.float64])
_LEAKY = re.compile(r"leaky_relu\((.+)\)")


def negative_slope(name: str) -> float:
    """leaky_relu's negative_slope: torch's default, or the one in the name."""
    if name == "leaky_relu":
        return 0.01
    match = _LEAKY.fullmatch(name)
    if match is None:
        raise NotImplementedError(f"activation {name!r}")
    return float(match[1])


def _sigmoid(z: Array) -> Array:
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)))


def _normal_cdf(z: Array) -> Array:
    return np.asarray(0.5 * (1.0 + _erf(z / math.sqrt(2.0))))


def _normal_pdf(z: Array) -> Array:
    return np.asarray(np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi))


ACT: dict[str, Callable[[Array], Array]] = {
    "gelu": lambda z: z * _normal_cdf(z),
    "silu": lambda z: z * _sigmoid(z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "identity": lambda z: z,
}

DERIV: dict[str, Callable[[Array], Array]] = {
    "gelu": lambda z: _normal_cdf(z) + z * _normal_pdf(z),
    "silu": lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    "identity": np.ones_like,
}


def _act(name: str, z: Array) -> Array:
    if name in ACT:
        return ACT[name](z)
    return np.where(z > 0, z, negative_slope(name) * z)


def _deriv(name: str, z: Array) -> Array:
    if name in DERIV:
        return DERIV[name](z)
    return np.where(z > 0, 1.0, negative_slope(name))


def _backward(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str, deriv: Deriv
) -> Grads:
    if loss != "mse":
        raise NotImplementedError("F.mse_loss only")
    x, target = X.T, Y.T
    cache = []
    h = x
    for (weight, bias), name in zip(params, activations):
        pre = h @ weight.T + bias  # nn.Linear
        cache.append((h, pre))
        h = _act(name, pre)
    grad_out = 2.0 * (h - target) / h.size  # F.mse_loss: the mean over every element
    grads = []
    for (h_in, pre), (weight, _), name in reversed(list(zip(cache, params, activations))):
        grad_pre = grad_out * deriv(name, pre)
        grads.append((grad_pre.T @ h_in, grad_pre.sum(axis=0)))  # weight.grad, bias.grad
        grad_out = grad_pre @ weight
    return grads[::-1]


def elementwise_mse(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """Correct for F.mse_loss (every element): Loss("mse", reduction="elementwise_mean")."""
    return _backward(params, X, Y, activations, loss, _deriv)


def gelu_prime_missing_pdf_term(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """gelu'(z) as Φ(z): the product rule's z·φ(z) term forgotten.

    Lives in the topmost gelu layer and every layer below it.
    """

    def deriv(name: str, z: Array) -> Array:
        if name == "gelu":
            return _normal_cdf(z)  # BUG: d/dz z·Φ(z) = Φ(z) + z·φ(z)
        return _deriv(name, z)

    return _backward(params, X, Y, activations, loss, deriv)


def silu_prime_as_sigmoid(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """silu'(z) as σ(z): the derivative of z·σ(z) taken as if z were a constant.

    Lives in the topmost silu layer and every layer below it.
    """

    def deriv(name: str, z: Array) -> Array:
        if name == "silu":
            return _sigmoid(z)  # BUG: d/dz z·σ(z) = σ(z)·(1 + z·(1 - σ(z)))
        return _deriv(name, z)

    return _backward(params, X, Y, activations, loss, deriv)


def leaky_default_slope_in_derivative(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """leaky_relu'(z) for z <= 0 as F.leaky_relu's default 0.01, whatever slope the net uses.

    Shows only where a layer's slope is not 0.01: in the topmost such layer and every layer
    below it.
    """

    def deriv(name: str, z: Array) -> Array:
        if name.startswith("leaky_relu"):
            return np.where(z > 0, 1.0, 0.01)  # BUG: the layer's own negative_slope
        return _deriv(name, z)

    return _backward(params, X, Y, activations, loss, deriv)


def elu_prime_negative_side(
    params: Params, X: Array, Y: Array, activations: Sequence[str], loss: str
) -> Grads:
    """elu'(z) for z <= 0 as the elu output e^z - 1 itself, missing the + alpha.

    Lives in the topmost elu layer and every layer below it.
    """

    def deriv(name: str, z: Array) -> Array:
        if name == "elu":
            out = ACT["elu"](z)
            return np.where(z > 0, 1.0, out)  # BUG: elu' = out + 1 for z <= 0 (alpha = 1)
        return _deriv(name, z)

    return _backward(params, X, Y, activations, loss, deriv)
