"""The forward definition of the network function: the one thing the gradient sources may share.

Convention (DESIGN.md, seed 001): columns are samples. For layers l = 1..L,
``Z^(l) = W^(l) A^(l-1) + b^(l)`` (bias broadcast over columns), ``A^(l) = g_l(Z^(l))``,
``A^(0) = X``. The objective is ``J = Σ_i C_i / divisor + (l2/2) Σ_l ‖W^(l)‖²_F`` with the
per-sample loss C_i

- ``mse``: Σ_outputs (a - y)²  (seed 000's C0, no ½ factor; ``half`` doubles the divisor);
- ``bce``: -Σ [y log a + (1 - y) log(1 - a)] with a sigmoid output layer;
- ``cross_entropy``: -Σ y log a with a softmax output layer (Y's columns are probability vectors),

and the divisor of the loss's reduction (`harness.spec.Loss.divisor`): m for ``mean`` (the
seeds'), 1 for ``sum``, m·n_L for ``elementwise_mean``, times 2 for ``half``.

Nothing here differentiates anything. Each activation is written in a numerically stable form
(e.g. softplus as ``logaddexp(0, z)``, softmax shifted by its column's maximum), bce is evaluated
from Z^(L) as ``softplus(z) - y z`` and cross_entropy as ``-Σ y (z - logsumexp(z))``, which equal
the definitions above without rounding a or 1 - a to zero when the output saturates.

Activation names are plain strings; ``leaky_relu(α)`` carries its slope in the name
(`parse_activation` gives the canonical spelling, `leaky_slope` the slope).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ACTIVATIONS",
    "LEAKY_SLOPE",
    "LOSSES",
    "OUTPUT_ONLY_ACTIVATIONS",
    "REDUCTIONS",
    "Array",
    "Params",
    "activate",
    "erfc",
    "forward",
    "is_kinked",
    "leaky_slope",
    "loss_value",
    "parse_activation",
]

Array = NDArray[np.float64]
Params = Sequence[tuple[Array, Array]]

#: Slope of ``leaky_relu`` for z <= 0 (``leaky_relu(α)`` has slope α).
LEAKY_SLOPE: Final = 0.01


def _sigmoid(z: Array) -> Array:
    # exp of a non-positive number only: never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _tanh(z: Array) -> Array:
    return np.tanh(z)


def _relu(z: Array) -> Array:
    return np.maximum(z, 0.0)


def _identity(z: Array) -> Array:
    return np.array(z, dtype=np.float64, copy=True)


def _softplus(z: Array) -> Array:
    return np.logaddexp(0.0, z)


def _elu(z: Array) -> Array:
    # α = 1: z for z > 0, e^z - 1 otherwise (expm1 keeps the small values exact).
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))


def _silu(z: Array) -> Array:
    return z * _sigmoid(z)


_ERFC: Final = np.frompyfunc(math.erfc, 1, 1)


def erfc(x: Array) -> Array:
    """The complementary error function, elementwise, from the C library (correctly rounded to
    within an ulp or two, relative, over the whole range; numpy has no erf)."""
    return np.asarray(_ERFC(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def _gelu(z: Array) -> Array:
    # Exact GELU, z Φ(z) with Φ(z) = erfc(-z/√2)/2: erfc keeps Φ accurate for z << 0.
    return z * (0.5 * erfc(-z / math.sqrt(2.0)))


def _softmax(z: Array) -> Array:
    """Column-wise softmax (each column a sample), shifted by the column's max: no overflow."""
    e = np.exp(z - np.max(z, axis=0, keepdims=True))
    return np.asarray(e / np.sum(e, axis=0, keepdims=True), dtype=np.float64)


_FORWARD: Final[dict[str, Callable[[Array], Array]]] = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "relu": _relu,
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
    "identity": _identity,
    "softplus": _softplus,
    "elu": _elu,
    "silu": _silu,
    "gelu": _gelu,
    "softmax": _softmax,
}

#: Activation names, in the order of DESIGN.md (``leaky_relu(α)`` is ``leaky_relu`` with a slope).
ACTIVATIONS: Final[tuple[str, ...]] = tuple(_FORWARD)
#: Activations allowed on the output layer only (they couple the outputs of a sample).
OUTPUT_ONLY_ACTIVATIONS: Final[frozenset[str]] = frozenset({"softmax"})
#: Loss names.
LOSSES: Final[tuple[str, ...]] = ("mse", "bce", "cross_entropy")
#: Reductions of the per-sample losses (`harness.spec.Loss`).
REDUCTIONS: Final[tuple[str, ...]] = ("mean", "sum", "elementwise_mean")

_LEAKY: Final = re.compile(r"leaky_relu\(\s*([^()]*?)\s*\)")


def parse_activation(name: str) -> str | None:
    """The canonical spelling of an activation name, or None if it names no activation.

    ``leaky_relu(α)`` needs a finite α > 0 and is spelled ``leaky_relu(<repr of float α>)``;
    ``leaky_relu(0.01)`` is ``leaky_relu``.
    """
    if name in _FORWARD:
        return name
    match = _LEAKY.fullmatch(name.strip())
    if match is None:
        return None
    try:
        alpha = float(match[1])
    except ValueError:
        return None
    if not (0.0 < alpha < math.inf):
        return None
    return "leaky_relu" if alpha == LEAKY_SLOPE else f"leaky_relu({alpha!r})"


def leaky_slope(name: str) -> float | None:
    """α of ``leaky_relu`` / ``leaky_relu(α)`` (canonical names), None for any other activation."""
    if name == "leaky_relu":
        return LEAKY_SLOPE
    match = _LEAKY.fullmatch(name)
    return float(match[1]) if match else None


def is_kinked(name: str) -> bool:
    """Whether the activation has a kink at z = 0, where its derivative is undefined
    (relu, leaky_relu(α) with α != 1; ELU with α = 1 is continuously differentiable)."""
    return name == "relu" or leaky_slope(name) not in (None, 1.0)


def activate(name: str, z: Array) -> Array:
    """Apply activation ``name`` (canonical, see `parse_activation`) to ``z``: elementwise, or
    column-wise for softmax."""
    g = _FORWARD.get(name)
    if g is not None:
        return g(z)
    alpha = leaky_slope(name)
    if alpha is None:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return np.where(z > 0, z, alpha * z)


def forward(params: Params, X: Array, activations: Sequence[str]) -> list[tuple[Array, Array]]:
    """Return ``[(Z1, A1), ..., (ZL, AL)]`` for the network with these parameters."""
    A = X
    layers: list[tuple[Array, Array]] = []
    for (W, b), name in zip(params, activations):
        Z = W @ A + b[:, None]
        A = activate(name, Z)
        layers.append((Z, A))
    return layers


def per_sample_loss(loss: str, Z_L: Array, A_L: Array, Y: Array) -> Array:
    """C_i for each sample i (a row of length m): the loss summed over the outputs."""
    if loss == "mse":
        return np.asarray(np.sum((A_L - Y) ** 2, axis=0), dtype=np.float64)
    if loss == "bce":
        # sigmoid output: -(y log σ(z) + (1-y) log(1-σ(z))) = softplus(z) - y z.
        return np.asarray(np.sum(_softplus(Z_L) - Y * Z_L, axis=0), dtype=np.float64)
    if loss == "cross_entropy":
        # softmax output: -Σ_j y_j log a_j = -Σ_j y_j (z_j - logsumexp(z)).
        top = np.max(Z_L, axis=0, keepdims=True)
        log_sum = top + np.log(np.sum(np.exp(Z_L - top), axis=0, keepdims=True))
        return np.asarray(-np.sum(Y * (Z_L - log_sum), axis=0), dtype=np.float64)
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")


def loss_value(
    params: Params,
    X: Array,
    Y: Array,
    activations: Sequence[str],
    loss: str,
    *,
    divisor: float,
    l2: float = 0.0,
) -> float:
    """J = Σ_i C_i / divisor + (l2/2) Σ_l ‖W^(l)‖²_F at these parameters (DESIGN.md)."""
    Z_L, A_L = forward(params, X, activations)[-1]
    J = float(np.sum(per_sample_loss(loss, Z_L, A_L, Y)) / divisor)
    if l2:
        J += 0.5 * l2 * sum(float(np.sum(W * W)) for W, _ in params)
    return J
