"""The reference problem of issue 6, its FLOP floor, and the error measure every method shares."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness import NetworkSpec, Problem

#: name -> (sizes, m): the issue's archs A-E, in increasing parameter count.
ARCHS: dict[str, tuple[tuple[int, ...], int]] = {
    "A": ((2, 3, 1), 4),
    "B": ((4, 8, 8, 2), 8),
    "C": ((8, 16, 16, 4), 16),
    "D": ((16, 32, 32, 32, 8), 32),
    "E": ((64, 128, 128, 10), 64),
}

Grads = Sequence[tuple[Any, Any]]


def spec_of(arch: str) -> NetworkSpec:
    """tanh hidden layers, sigmoid output, mse."""
    sizes, _ = ARCHS[arch]
    return NetworkSpec(sizes, ("tanh",) * (len(sizes) - 2) + ("sigmoid",), "mse")


def problem_of(arch: str) -> Problem:
    """The issue's reference problem: ``numpy.random.default_rng(0)``, W ~ N(0,1)/sqrt(fan_in),
    b ~ 0.1·N(0,1), X ~ N(0,1), Y ~ U[0,1) — exactly what ``Problem.random(spec, m, seed=0)``
    draws (`matches_issue` checks it against a direct draw)."""
    return Problem.random(spec_of(arch), ARCHS[arch][1], seed=0)


def issue_draw(arch: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """The issue's distribution drawn directly, in the order W1, b1, W2, b2, ..., X, Y."""
    sizes, m = ARCHS[arch]
    rng = np.random.default_rng(0)
    params = []
    for n_prev, n_l in itertools.pairwise(sizes):
        W = rng.standard_normal((n_l, n_prev)) / np.sqrt(n_prev)
        b = 0.1 * rng.standard_normal(n_l)
        params.append((W, b))
    X = rng.standard_normal((sizes[0], m))
    Y = rng.random((sizes[-1], m))
    return params, X, Y


def matches_issue(arch: str) -> bool:
    """True if `problem_of` draws what the issue describes: the same stream, each value within
    1 ulp (the harness scales by ``1/sqrt(n)``, the issue divides by ``sqrt(n)``)."""
    problem = problem_of(arch)
    params, X, Y = issue_draw(arch)
    arrays = [problem.X, problem.Y, *(t for pair in problem.params for t in pair)]
    expected = [X, Y, *(t for pair in params for t in pair)]
    return all(np.allclose(a, e, rtol=2.3e-16, atol=0.0) for a, e in zip(arrays, expected))


def fd_gemm_flops(sizes: Sequence[int], m: int) -> int:
    """FLOPs of the GEMMs that per-entry central differences cannot avoid.

    Perturbing one parameter of layer l (W^(l)[i, k] or b^(l)[i]) changes one row of Z^(l); layer
    l+1 is a rank-1 update (no GEMM). From layer l+2 on every perturbed sample's change of
    A^(q-1) (n_{q-1} values) must go through W^(q) (n_q × n_{q-1}): 2·n_{q-1}·n_q FLOPs per
    sample, m samples, both signs ±h. So, with P_l = n_l·(n_{l-1} + 1) parameters in layer l,

        FLOPs = Σ_{l=1..L} P_l · 2 · Σ_{q=l+2..L} 2·m·n_{q-1}·n_q

    E (64,128,128,10), m=64: 128·65 · 2 · 2·64·128·10 ≈ 2.73e9 (issue 6: ≈ 2.7 GFLOP).
    The third-derivative bound's extra differences are not counted: the floor is what any
    per-entry central difference needs, not what ours does.
    """
    L = len(sizes) - 1
    total = 0
    for l in range(1, L + 1):
        P_l = sizes[l] * (sizes[l - 1] + 1)
        per_step = sum(2 * m * sizes[q - 1] * sizes[q] for q in range(l + 2, L + 1))
        total += P_l * 2 * per_step
    return total


def rel_error(grads: Grads, ref: Grads) -> float:
    """max over tensors of max|g - g_ref| / max|g_ref| (the table's error column)."""
    worst = 0.0
    for pair, ref_pair in zip(grads, ref, strict=True):
        for g, g_ref in zip(pair, ref_pair, strict=True):
            g64 = np.asarray(g, dtype=np.float64).reshape(np.shape(g_ref))
            scale = max(float(np.max(np.abs(g_ref))), 1e-300)
            worst = max(worst, float(np.max(np.abs(g64 - g_ref))) / scale)
    return worst
