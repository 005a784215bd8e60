"""Vectorized backprop, seed 001 generalized: any depth and output width, every activation and
loss convention of DESIGN.md.

Shapes (columns are samples): X (n0, m), W^(l) (n_l, n_{l-1}), b^(l) (n_l,), Y (nL, m).

Objective: ``J = Σ_i C_i / divisor + (l2/2) Σ_l ‖W^(l)‖²_F`` (biases excluded, the l2 term not
divided), with C_i the loss of sample i summed over the outputs:

- ``mse``: Σ (a - y)² (no ½; ``half=True`` doubles the divisor instead);
- ``bce``: -Σ [y log a + (1 - y) log(1 - a)], sigmoid output layer;
- ``cross_entropy``: -Σ y log a, softmax output layer (Y's columns are probability vectors),

and the divisor of the reduction: m (``"mean"``, the seeds'), 1 (``"sum"``) or m·n_L
(``"elementwise_mean"``), times 2 for ``half`` (mse only).

Backward, in seed 001's names: the loss head gives ``dJ_dZ`` of the output layer; each layer gives
``dJ_dW = dJ_dZ A_prev^T (+ l2·W)``, ``dJ_dB = Σ_samples dJ_dZ``, ``dJ_dA_prev = W^T dJ_dZ`` and,
below it, ``dJ_dZ = dJ_dA ⊙ g'(Z)`` with each g' written in terms of Z. Softmax couples the
outputs of a sample (output layer only): its Jacobian ∂a_k/∂z_j = a_k(δ_kj - a_j) is applied
column-wise as ``dJ_dZ = A ⊙ (dJ_dA - Σ_k A_k dJ_dA_k)`` without forming it.

Every function is evaluated where it cannot overflow (exponentials of non-positive numbers,
softmax shifted by its column's maximum), so saturated units and large |Z| give finite values
without warnings.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["backward", "forward"]

Array = NDArray[np.float64]
Elementwise = Callable[[Array], Array]

_LEAKY_SLOPE = 0.01
_LEAKY = re.compile(r"leaky_relu\(\s*([^()]*?)\s*\)")
_SQRT_2: Final = math.sqrt(2.0)
_SQRT_2PI: Final = math.sqrt(2.0 * math.pi)
#: Beyond this |z| the normal density exp(-z²/2) is 0 in float64 (e^-800 < 1e-347).
_PHI_CUTOFF: Final = 40.0


def _sigmoid(Z: Array) -> Array:
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + E), E / (1.0 + E))


def _sigmoid_prime(Z: Array) -> Array:
    # σ'(z) = σ(z) σ(-z) = e^-|z| / (1 + e^-|z|)² (even in z): exp of a non-positive number only.
    E = np.exp(-np.abs(Z))
    return E / (1.0 + E) ** 2


def _tanh_prime(Z: Array) -> Array:
    # tanh'(z) = sech²(z) = 4 e^-2|z| / (1 + e^-2|z|)²: no cosh(z) to overflow when |z| > 710.
    E = np.exp(-2.0 * np.abs(Z))
    return 4.0 * E / (1.0 + E) ** 2


def _elu(Z: Array) -> Array:
    # α = 1: z for z > 0, e^z - 1 otherwise (expm1 of a non-positive number only).
    return np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0.0)))


def _elu_prime(Z: Array) -> Array:
    # 1 for z > 0, e^z otherwise (both are 1 at z = 0: ELU with α = 1 is C¹).
    return np.where(Z > 0, 1.0, np.exp(np.minimum(Z, 0.0)))


def _silu_prime(Z: Array) -> Array:
    # d/dz z σ(z) = σ(z) + z σ'(z).
    return _sigmoid(Z) + Z * _sigmoid_prime(Z)


_ERFC: Final = np.frompyfunc(math.erfc, 1, 1)


def _Phi(Z: Array) -> Array:
    """The standard normal CDF Φ(z) = erfc(-z/√2)/2 (libm's erfc, elementwise): accurate to
    a few ulps relative for z << 0 too, where 1 + erf(z/√2) would cancel."""
    return 0.5 * np.asarray(_ERFC(-Z / _SQRT_2), dtype=np.float64)


def _phi(Z: Array) -> Array:
    """The standard normal density φ(z) = exp(-z²/2)/√(2π); |z| is capped where φ is already 0,
    so z² cannot overflow."""
    Z_capped = np.minimum(np.abs(Z), _PHI_CUTOFF)
    return np.exp(-0.5 * Z_capped**2) / _SQRT_2PI


def _gelu_prime(Z: Array) -> Array:
    # d/dz z Φ(z) = Φ(z) + z φ(z).
    return _Phi(Z) + Z * _phi(Z)


def _softmax(Z: Array) -> Array:
    """Column-wise softmax (each column a sample), shifted by the column's max: no overflow."""
    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return np.asarray(E / np.sum(E, axis=0, keepdims=True), dtype=np.float64)


def _softmax_backward(A: Array, dJ_dA: Array) -> Array:
    """dJ_dZ_j = Σ_k dJ_dA_k a_k(δ_kj - a_j) = a_j (dJ_dA_j - Σ_k a_k dJ_dA_k), per column."""
    return np.asarray(A * (dJ_dA - np.sum(A * dJ_dA, axis=0, keepdims=True)), dtype=np.float64)


# Elementwise activations: name -> (g, g') with g' written in terms of Z.
_ACTIVATIONS: Final[dict[str, tuple[Elementwise, Elementwise]]] = {
    "sigmoid": (_sigmoid, _sigmoid_prime),
    "tanh": (np.tanh, _tanh_prime),
    "relu": (lambda Z: np.maximum(Z, 0.0), lambda Z: (Z > 0).astype(np.float64)),
    "leaky_relu": (
        lambda Z: np.where(Z > 0, Z, _LEAKY_SLOPE * Z),
        lambda Z: np.where(Z > 0, 1.0, _LEAKY_SLOPE),
    ),
    "identity": (lambda Z: Z.copy(), lambda Z: np.ones_like(Z)),
    "softplus": (lambda Z: np.logaddexp(0.0, Z), _sigmoid),
    "elu": (_elu, _elu_prime),
    "silu": (lambda Z: Z * _sigmoid(Z), _silu_prime),
    "gelu": (lambda Z: Z * _Phi(Z), _gelu_prime),
}
_KNOWN_ACTIVATIONS: Final = ", ".join([*_ACTIVATIONS, "softmax", "leaky_relu(α) for a slope α > 0"])
_LOSSES: Final = ("mse", "bce", "cross_entropy")
_REDUCTIONS: Final = ("mean", "sum", "elementwise_mean")


@functools.lru_cache(maxsize=64)
def _leaky_relu(alpha: float) -> tuple[Elementwise, Elementwise]:
    return (
        lambda Z: np.where(Z > 0, Z, alpha * Z),
        lambda Z: np.where(Z > 0, 1.0, alpha),
    )


def _leaky_slope(name: str) -> float | None:
    """α of ``leaky_relu(α)`` (a finite α > 0), None if ``name`` is not spelled so."""
    match = _LEAKY.fullmatch(name.strip())
    if match is None:
        return None
    try:
        alpha = float(match[1])
    except ValueError:
        return None
    return alpha if 0.0 < alpha < math.inf else None


def _g(name: str) -> tuple[Elementwise, Elementwise]:
    """(g, g') of an elementwise activation."""
    if isinstance(name, str):
        pair = _ACTIVATIONS.get(name)
        if pair is not None:
            return pair
        alpha = _leaky_slope(name)
        if alpha is not None:
            return _leaky_relu(alpha)
        if name == "softmax":
            raise ValueError(
                "activation 'softmax' couples the outputs of a sample: output layer only"
            )
    raise ValueError(f"unknown activation {name!r}; known: {_KNOWN_ACTIVATIONS}")


def forward(
    params: Sequence[tuple[Array, Array]], X: Array, activations: Sequence[str]
) -> list[tuple[Array, Array]]:
    """Return the cache ``[(Z1, A1), ..., (ZL, AL)]``."""
    A_prev = X
    cache: list[tuple[Array, Array]] = []
    for (W, b), name in zip(params, activations, strict=True):
        g = _softmax if name == "softmax" else _g(name)[0]
        Z = W @ A_prev + b[:, None]
        A = g(Z)
        cache.append((Z, A))
        A_prev = A
    return cache


def _divisor(loss: str, half: bool, reduction: str, m: int, n_L: int) -> float:
    """What Σ_i C_i is divided by: m, 1 or m·n_L, times 2 for half (mse's ½·Σ(a - y)²)."""
    if loss not in _LOSSES:
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(_LOSSES)}")
    if half and loss != "mse":
        raise ValueError(f"half=True is mse's ½·Σ(a - y)² only; loss {loss!r} has no ½ form")
    if reduction == "mean":
        base = m
    elif reduction == "sum":
        base = 1
    elif reduction == "elementwise_mean":
        base = m * n_L
    else:
        raise ValueError(f"unknown reduction {reduction!r}; known: {', '.join(_REDUCTIONS)}")
    return float(2 * base if half else base)


def _output_dJ_dZ(loss: str, name: str, Z_L: Array, A_L: Array, Y: Array, divisor: float) -> Array:
    """dJ_dZ of the output layer: the loss head, with the divisor of its reduction."""
    if loss == "mse":
        dJ_dA = 2.0 * (A_L - Y) / divisor
        if name == "softmax":
            return _softmax_backward(A_L, dJ_dA)
        return dJ_dA * _g(name)[1](Z_L)
    if loss == "bce":
        if name != "sigmoid":
            raise ValueError("loss 'bce' needs a sigmoid output layer")
        # Seed 001: dJ_dZ = -(1/m)(Y/A - (1-Y)/(1-A)) ⊙ A(1-A), which simplifies to (A - Y)/m;
        # the simplified form stays finite when the sigmoid saturates (A rounds to 0 or 1).
        return (A_L - Y) / divisor
    if loss == "cross_entropy":
        if name != "softmax":
            raise ValueError("loss 'cross_entropy' needs a softmax output layer")
        # C = -Σ_k y_k log a_k with log a_k = z_k - log Σ_q e^z_q: ∂C/∂z_j = a_j Σ_k y_k - y_j,
        # which is a_j - y_j only when the column of Y sums to 1.
        sum_Y = np.sum(Y, axis=0, keepdims=True)
        return np.asarray((A_L * sum_Y - Y) / divisor, dtype=np.float64)
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(_LOSSES)}")


def backward(
    params: Sequence[tuple[Array, Array]],
    X: Array,
    Y: Array,
    activations: Sequence[str],
    loss: str,
    *,
    half: bool = False,
    reduction: str = "mean",
    l2: float = 0.0,
) -> list[tuple[Array, Array]]:
    """The gradient dJ/dθ as ``[(dJ_dW1, dJ_dB1), ...]``, each with its parameter's shape.

    ``loss`` is ``"mse"``, ``"bce"`` (sigmoid output) or ``"cross_entropy"`` (softmax output);
    ``half`` (mse only) and ``reduction`` set the divisor, ``l2`` the weight decay (module
    docstring). An unknown name, or softmax below the output layer, raises ValueError.
    """
    m = X.shape[1]
    divisor = _divisor(loss, half, reduction, m, Y.shape[0])
    for name in activations[:-1]:
        _g(name)  # every hidden activation is elementwise and known
    cache = forward(params, X, activations)
    Z_L, A_L = cache[-1]
    dJ_dZ = _output_dJ_dZ(loss, activations[-1], Z_L, A_L, Y, divisor)

    grads: list[tuple[Array, Array]] = []
    for l in range(len(params) - 1, -1, -1):
        A_prev = X if l == 0 else cache[l - 1][1]
        W, _ = params[l]
        dJ_dW = dJ_dZ @ A_prev.T
        if l2:
            dJ_dW += l2 * W
        dJ_dB = dJ_dZ.sum(axis=1)
        grads.append((dJ_dW, dJ_dB))
        if l > 0:
            dJ_dA_prev = W.T @ dJ_dZ
            Z_prev = cache[l - 1][0]
            dJ_dZ = dJ_dA_prev * _g(activations[l - 1])[1](Z_prev)
    grads.reverse()
    return grads
