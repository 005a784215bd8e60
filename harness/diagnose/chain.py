"""The correct backward pass in float64 or float32, every quantity keyed by its 1-based layer:
what a mutant changes one thing in, and what float32 replicas sample a float32 backprop's
rounding with. Every loss of the closed set (raising on another), with the declared divisor; a
softmax output through its Jacobian; l2·W in every dW.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, cast

import numpy as np
from numpy.random import Generator

from harness.diagnose.derivatives import COUPLED, G_PRIME, g_prime
from harness.network import Array, activate
from harness.spec import Problem

__all__ = ["Chain"]

_EPS32: Final = float(np.finfo(np.float32).eps)


def _as(values: Array, dtype: type[np.floating[Any]], jitter: Generator | None = None) -> Array:
    """``values`` in ``dtype``; with ``jitter``, each value float32 cannot hold exactly is first
    moved by a random relative ±eps32 (exact ones, such as 0/1 labels, stay)."""
    if jitter is not None:
        inexact = values != np.asarray(values, dtype=np.float32)
        values = values * (1.0 + inexact * _EPS32 * jitter.uniform(-1.0, 1.0, np.shape(values)))
    return cast(Array, np.asarray(values, dtype=dtype))


class Chain:
    """The correct backward pass in ``dtype``, every quantity keyed by its 1-based layer
    (A[0] = X). In float32 with jittered inputs: one sample of a float32 backprop's rounding.
    ``g_prime`` holds the elementwise layers only (not a softmax output)."""

    def __init__(
        self,
        problem: Problem,
        dtype: type[np.floating[Any]] = np.float64,
        jitter: Generator | None = None,
        g_primes: dict[str, Callable[[Array], Array]] = G_PRIME,
    ):
        spec, m, L = problem.spec, problem.batch, problem.spec.depth
        self.names = spec.activations
        self.l2 = spec.l2
        self.W = {l: _as(problem.params[l - 1][0], dtype, jitter) for l in range(1, L + 1)}
        b = {l: _as(problem.params[l - 1][1], dtype, jitter) for l in range(1, L + 1)}
        self.Z: dict[int, Array] = {}
        self.A = {0: _as(problem.X, dtype, jitter)}
        for l, name in enumerate(self.names, start=1):
            self.Z[l] = self.W[l] @ self.A[l - 1] + b[l][:, None]
            self.A[l] = _as(activate(name, self.Z[l]), dtype)  # identity's copy is float64
        self.g_prime = {
            l: _as(g_prime(name, g_primes)(self.Z[l]), dtype)
            for l, name in enumerate(self.names, start=1)
            if name not in COUPLED
        }
        Y, A_L = _as(problem.Y, dtype, jitter), self.A[L]
        self.dJ_dA, self.dJ_dZ = {}, {}
        self.dJ_dA[L], self.dJ_dZ[L] = self._output(spec.loss.name, A_L, Y, spec.divisor(m))
        for l in range(L - 1, 0, -1):
            self.dJ_dA[l] = self.W[l + 1].T @ self.dJ_dZ[l + 1]
            self.dJ_dZ[l] = self.dJ_dA[l] * self.g_prime[l]

    def _output(self, loss: str, A_L: Array, Y: Array, divisor: float) -> tuple[Array, Array]:
        """(dJ_dA, dJ_dZ) at the output, for each loss of the closed set."""
        L = len(self.names)
        if loss == "mse":
            dJ_dA = 2.0 * (A_L - Y) / divisor
            if self.names[-1] == "softmax":  # ∂a_k/∂z_j = a_k(δ_kj - a_j), column by column
                return dJ_dA, A_L * (dJ_dA - np.sum(A_L * dJ_dA, axis=0, keepdims=True))
            return dJ_dA, dJ_dA * self.g_prime[L]
        if loss == "bce":  # sigmoid output: dJ_dZ = (a - y)/divisor; dJ_dA for a mutant g' only
            dJ_dZ = (A_L - Y) / divisor
            return dJ_dZ / self.g_prime[L], dJ_dZ  # inf where σ' underflows
        if loss == "cross_entropy":  # softmax output, Y's columns are probability vectors
            dJ_dZ = (A_L * np.sum(Y, axis=0, keepdims=True) - Y) / divisor
            y_over_a = np.divide(Y, A_L, out=np.zeros_like(A_L), where=Y != 0)
            return -y_over_a / divisor, dJ_dZ  # dJ_dA for a mutant g' only
        raise ValueError(f"diagnose: no derivative for loss {loss!r}")

    def dJ_dW(self, l: int, dJ_dZ: Array, A_prev: Array) -> Array:
        """dJ/dW^(l) from layer l's dJ_dZ: the loss term and the L2 term."""
        dW: Array = dJ_dZ @ A_prev.T
        return dW + self.l2 * self.W[l] if self.l2 else dW
