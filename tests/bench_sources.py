"""Time each gradient source and measure how far apart the sources are.

Run with ``nox -s bench`` or ``python tests/bench_sources.py [--repeat N]``. Not collected by
pytest: speed is measured here, never asserted in a test.

Problem (the same for every figure): float64 MLP from ``Problem.random(spec, m, seed=0)``,
tanh hidden layers, sigmoid output, mse.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

import reference
from harness import ACTIVATIONS, NetworkSpec, Problem
from harness.sources import closed_form, finite_diff, symbolic

ARCHS = {
    "A": ((2, 3, 1), 4),
    "B": ((4, 8, 8, 2), 8),
    "C": ((8, 16, 16, 4), 16),
    "D": ((16, 32, 32, 32, 8), 32),
    "E": ((64, 128, 128, 10), 64),
}


def _median_seconds(fn: Callable[[Problem], Any], problem: Problem, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(problem)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _clear_symbolic_caches() -> None:
    for cached in (
        symbolic._network,
        symbolic.derivative,
        symbolic._activation,
        symbolic._activation_derivative,
        symbolic._head_derivative,
        symbolic._canonical,
    ):
        cached.cache_clear()
    sympy.core.cache.clear_cache()


def timings(repeat: int) -> None:
    print(
        f"{'arch':<5}{'sizes':<22}{'m':>4}{'params':>8}"
        f"{'closed_form':>13}{'symbolic cold':>15}{'symbolic warm':>15}{'finite_diff':>13}"
    )
    for name, (sizes, m) in ARCHS.items():
        spec = NetworkSpec(sizes, ("tanh",) * (len(sizes) - 2) + ("sigmoid",), "mse")
        problem = Problem.random(spec, m, seed=0)
        cold = []
        for _ in range(repeat):
            _clear_symbolic_caches()
            start = time.perf_counter()
            symbolic.gradients(problem)
            cold.append(time.perf_counter() - start)
        row = [
            _median_seconds(closed_form.gradients, problem, max(repeat, 5)),
            statistics.median(cold),
            _median_seconds(symbolic.gradients, problem, max(repeat, 5)),
            _median_seconds(finite_diff.estimate, problem, repeat),
        ]
        print(
            f"{name:<5}{sizes!s:<22}{m:>4}{spec.n_params:>8}"
            + "".join(f"{t * 1e3:>11.2f}ms  " for t in row)
        )


def _max_rel_gap(a: list[tuple[Any, Any]], b: list[tuple[Any, Any]]) -> float:
    """max over tensors of max|a - b| / max(|a|, |b|); b may hold mpmath values."""
    gaps = []
    for pa, pb in zip(a, b, strict=True):
        for ta, tb in zip(pa, pb, strict=True):
            diff = np.asarray(np.abs(ta - tb), dtype=np.float64)
            tb64 = np.asarray(tb, dtype=np.float64)
            scale = max(float(np.max(np.abs(ta))), float(np.max(np.abs(tb64))), 1e-300)
            gaps.append(float(np.max(diff)) / scale)
    return max(gaps)


def disagreements() -> None:
    """Largest per-tensor disagreement (|Δ| / max|g|) between each pair of sources."""
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    actual: dict[str, tuple[float, str]] = {}
    cases = 0
    for activation, loss in itertools.product(ACTIVATIONS, ("mse", "bce")):
        for sizes, m in [((3, 4, 2), 5), ((2, 5, 1, 3), 1), ((4, 6, 6, 6, 2), 8), ((1, 1), 3)]:
            out = "sigmoid" if loss == "bce" else activation
            spec = NetworkSpec(sizes, (activation,) * (len(sizes) - 2) + (out,), loss)
            for seed in range(3):
                problem = Problem.random(spec, m, seed=seed)
                est = finite_diff.estimate(problem)
                undecidable = any(np.any(u) for pair in est.undecidable for u in pair)
                by = {
                    "reference": reference.backward(
                        problem.params, problem.X, problem.Y, spec.activations, loss
                    ),
                    "closed_form": closed_form.gradients(problem),
                    "symbolic": symbolic.gradients(problem),
                }
                if not undecidable:
                    by["finite_diff"] = est.grads
                cases += 1
                if spec.n_params <= symbolic.MAX_PARAMS_FOR_DIGITS:
                    exact = symbolic.gradients(problem, digits=50).exact
                    for name, grads in by.items():
                        error = _max_rel_gap(grads, exact)
                        if error >= actual.get(name, (-1.0, ""))[0]:
                            actual[name] = (error, f"{spec!r} m={m} seed={seed}")
                for a, b in itertools.combinations(by, 2):
                    gap = _max_rel_gap(by[a], by[b])
                    if gap >= worst.get((a, b), (-1.0, ""))[0]:
                        worst[(a, b)] = (gap, f"{spec!r} m={m} seed={seed}")
    print(f"\nlargest disagreement per tensor, |Δ| / max|g|, over {cases} problems:")
    for (a, b), (gap, where) in sorted(worst.items()):
        print(f"  {a:>11} vs {b:<11} {gap:9.2e}   at {where}")
    print("\nlargest actual error against SymPy's 50-digit values, |Δ| / max|g| per tensor:")
    for name, (error, where) in sorted(actual.items()):
        print(f"  {name:>11}  {error:9.2e}   at {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    timings(args.repeat)
    disagreements()


if __name__ == "__main__":
    main()
