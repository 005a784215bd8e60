"""How far apart the sources are, and how far each is from SymPy's 50-digit values.

Over every activation × loss on four small shapes and three seeds (144 problems): the largest
per-tensor gap |Δ| / max|g| between each pair of {reference, closed_form, symbolic, finite_diff},
and each one's largest actual error against ``symbolic.gradients(problem, digits=50)`` where the
net is small enough for it. Finite differences sit out problems with an entry undecidable at a
ReLU kink. (Formerly tests/bench_sources.py's second half.)
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

import reference
from harness import ACTIVATIONS, NetworkSpec, Problem
from harness.sources import closed_form, finite_diff, symbolic

SHAPES = [((3, 4, 2), 5), ((2, 5, 1, 3), 1), ((4, 6, 6, 6, 2), 8), ((1, 1), 3)]


def max_rel_gap(a: list[tuple[Any, Any]], b: list[tuple[Any, Any]]) -> float:
    """max over tensors of max|a - b| / max(|a|, |b|); b may hold mpmath values."""
    gaps = []
    for pa, pb in zip(a, b, strict=True):
        for ta, tb in zip(pa, pb, strict=True):
            diff = np.asarray(np.abs(ta - tb), dtype=np.float64)
            tb64 = np.asarray(tb, dtype=np.float64)
            scale = max(float(np.max(np.abs(ta))), float(np.max(np.abs(tb64))), 1e-300)
            gaps.append(float(np.max(diff)) / scale)
    return max(gaps)


def disagreements() -> dict[str, Any]:
    """``{"problems": n, "pairs": [{a, b, gap, at}], "actual": [{source, error, at}]}``."""
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    actual: dict[str, tuple[float, str]] = {}
    cases = 0
    for activation, loss in itertools.product(ACTIVATIONS, ("mse", "bce")):
        for sizes, m in SHAPES:
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
                where = f"{spec!r} m={m} seed={seed}"
                if spec.n_params <= symbolic.MAX_PARAMS_FOR_DIGITS:
                    exact = symbolic.gradients(problem, digits=50).exact
                    for name, grads in by.items():
                        error = max_rel_gap(grads, exact)
                        if error >= actual.get(name, (-1.0, ""))[0]:
                            actual[name] = (error, where)
                for a, b in itertools.combinations(by, 2):
                    gap = max_rel_gap(by[a], by[b])
                    if gap >= worst.get((a, b), (-1.0, ""))[0]:
                        worst[(a, b)] = (gap, where)
    return {
        "problems": cases,
        "pairs": [{"a": a, "b": b, "gap": g, "at": w} for (a, b), (g, w) in sorted(worst.items())],
        "actual": [{"source": s, "error": e, "at": w} for s, (e, w) in sorted(actual.items())],
    }


def lines(result: dict[str, Any]) -> list[str]:
    """The section as plain text lines (the same in the terminal and in bench.md)."""
    out = [f"largest disagreement per tensor, |Δ| / max|g|, over {result['problems']} problems:"]
    out += [
        f"  {p['a']:>11} vs {p['b']:<11} {p['gap']:9.2e}   at {p['at']}" for p in result["pairs"]
    ]
    out.append("largest actual error against SymPy's 50-digit values, |Δ| / max|g| per tensor:")
    out += [f"  {a['source']:>11}  {a['error']:9.2e}   at {a['at']}" for a in result["actual"]]
    return out
