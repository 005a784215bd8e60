"""Timings of our own sources, fast mode and the whole verdict on one reference problem.

Every figure is the median of ``repeat`` runs after one untimed warm-up call, except the cold
ones: symbolic cold clears every cache first (the module's functools caches and SymPy's; the
on-disk cache is off because the bench unsets $GRADCHECK_SYMBOLIC_CACHE), and finite differences
cold is the first call in a fresh process (`tests.bench.fd_cold`), numba's JIT or cache load
included. Without numba the compiled figures are None ("n/a").
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sympy

import reference
from harness import FastResult, Problem, check, fast_check
from harness.sources import closed_form, finite_diff, symbolic
from tests.bench.problems import Grads, rel_error

ROOT = Path(__file__).resolve().parents[2]

#: The key of each figure of ours, in table order, with its label.
FIGURES = {
    "closed_form": "closed form",
    "symbolic_cold": "symbolic cold",
    "symbolic_warm": "symbolic warm",
    "fd_numpy": "FD numpy",
    "fd_compiled": "FD compiled",
    "fd_cold_numpy": "FD cold numpy",
    "fd_cold_compiled": "FD cold compiled",
    "fast_pass": "fast (pass)",
    "fast_localize": "fast (detect+localize)",
    "verdict": "whole verdict",
}

OFF_BY = 1e-4  # relative error of the one wrong entry fast mode must find


def samples(
    fn: Callable[[], Any], repeat: int, before: Callable[[], None] | None = None
) -> list[float]:
    """Seconds of ``repeat`` calls of ``fn`` (``before`` runs untimed ahead of each)."""
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def clear_symbolic_caches() -> None:
    """Every functools cache of the SymPy source, and SymPy's own cache."""
    for value in vars(symbolic).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    sympy.core.cache.clear_cache()


def disable_symbolic_disk_cache() -> None:
    """Cold must build: the on-disk cache (when symbolic.py has one) is switched off."""
    os.environ.pop(symbolic.CACHE_ENV, None)


def fd_kernels() -> dict[str, Callable[[Problem], Any] | None]:
    """``{"numpy": fn, "compiled": fn or None}``: each forces one kernel of finite_diff.estimate
    (no compiled one without numba)."""
    available = finite_diff.compiled_available()

    def numpy_kernel(problem: Problem) -> Any:
        return finite_diff.estimate(problem, kernel="numpy")

    def compiled_kernel(problem: Problem) -> Any:
        return finite_diff.estimate(problem, kernel="compiled")

    return {"numpy": numpy_kernel, "compiled": compiled_kernel if available else None}


def off_by_one_entry(problem: Problem) -> tuple[Callable[..., Any], dict[str, Any]]:
    """reference.backward with one entry off by `OFF_BY` relative: the largest |dW| of the middle
    layer (a relative error of an entry near 0 would be below what any check can see)."""
    spec = problem.spec
    layer = (len(spec.sizes) - 1) // 2  # 0-based index of the middle layer
    grads = reference.backward(problem.params, problem.X, problem.Y, spec.activations, spec.loss)
    index = tuple(
        int(i) for i in np.unravel_index(np.argmax(np.abs(grads[layer][0])), grads[layer][0].shape)
    )

    def backward(params: Any, X: Any, Y: Any, activations: Any, loss: Any) -> Any:
        out = [
            (dW.copy(), db.copy()) for dW, db in reference.backward(params, X, Y, activations, loss)
        ]
        out[layer][0][index] *= 1.0 + OFF_BY
        return out

    return backward, {"layer": layer + 1, "tensor": "W", "index": list(index), "relative": OFF_BY}


def verdict(problem: Problem) -> tuple[bool, int]:
    """The whole verdict as a user gets it: check(), then the report's text and JSON."""
    report = check(reference.backward, problem)
    return report.passed, len(str(report)) + len(report.to_json())


def fd_cold(arch: str, kernel: str, repeat: int) -> list[float] | None:
    """First-call seconds of finite differences in ``repeat`` fresh processes."""
    times = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, "-m", "tests.bench.fd_cold", arch, kernel],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tests.bench.fd_cold {arch} {kernel} failed:\n{proc.stderr}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if result["first_call_s"] is None:
            return None
        times.append(float(result["first_call_s"]))
    return times


def measure(arch: str, problem: Problem, repeat: int, log: Callable[[str], None]) -> dict[str, Any]:
    """All figures of ours on one problem: ``{key: {"samples": [...], "median": s, ...}}``.

    A figure whose code raises is recorded as failed (``"failed": "<what it raised>"``, median
    None) and the run goes on: one broken source must not cost the other figures of a long run.
    """
    spec = problem.spec
    ref = reference.backward(problem.params, problem.X, problem.Y, spec.activations, spec.loss)
    figures: dict[str, Any] = {}

    def record(key: str, times: list[float] | None, **extra: Any) -> None:
        median = statistics.median(times) if times else None
        figures[key] = {"samples": times, "median": median, "error": None, **extra}
        shown = "n/a" if median is None else f"{median * 1e3:.2f} ms"
        log(
            f"  {arch} {FIGURES[key]:<24} {shown}"
            + (f"  FAILED {extra['failed'].splitlines()[-1]}" if "failed" in extra else "")
        )

    def attempt(
        key: str, measure_one: Callable[[], tuple[list[float] | None, dict[str, Any]]]
    ) -> None:
        try:
            times, extra = measure_one()
        except Exception as exc:
            record(key, None, failed=f"{type(exc).__name__}: {str(exc)[-500:]}")
        else:
            record(key, times, **extra)

    def warm(fn: Callable[[Problem], Any], error_of: Callable[[Any], Grads]) -> Callable[[], Any]:
        def measure_one() -> tuple[list[float], dict[str, Any]]:
            result = fn(problem)  # warm-up, and the values whose error is reported
            error = rel_error(error_of(result), ref)
            return samples(lambda: fn(problem), repeat), {"error": error}

        return measure_one

    attempt("closed_form", warm(closed_form.gradients, lambda g: g))
    disable_symbolic_disk_cache()
    attempt(
        "symbolic_cold",
        lambda: (samples(lambda: symbolic.gradients(problem), repeat, clear_symbolic_caches), {}),
    )
    attempt("symbolic_warm", warm(symbolic.gradients, lambda g: g))
    for kernel, fn in fd_kernels().items():
        if fn is None:
            record(f"fd_{kernel}", None, note="compiled kernel not available")
            record(f"fd_cold_{kernel}", None, note="compiled kernel not available")
            continue
        attempt(f"fd_{kernel}", warm(fn, lambda est: est.grads))
        attempt(f"fd_cold_{kernel}", lambda k=kernel: (fd_cold(arch, k, repeat), {}))

    wrong, where = off_by_one_entry(problem)
    for key, backward in (("fast_pass", reference.backward), ("fast_localize", wrong)):
        extra: dict[str, Any] = {"injected": where} if key == "fast_localize" else {}

        def measure_fast(
            b: Any = backward, e: dict[str, Any] = extra
        ) -> tuple[list[float], dict[str, Any]]:
            outcome = _describe(fast_check(b, problem, seed=0), e.get("injected"))
            return samples(lambda: fast_check(b, problem, seed=0), repeat), {
                "outcome": outcome,
                **e,
            }

        attempt(key, measure_fast)

    def measure_verdict() -> tuple[list[float], dict[str, Any]]:
        passed, _ = verdict(problem)
        return samples(lambda: verdict(problem), repeat), {"passed": passed}

    attempt("verdict", measure_verdict)
    return figures


def _describe(result: FastResult, injected: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a fast-mode result says: passed, the entries it located, and whether one of them is
    the injected wrong entry."""
    located = [(e.layer, e.param, e.index) for e in result.located]
    found = None
    if injected is not None:
        target = (injected["layer"], injected["tensor"], tuple(injected["index"]))
        found = any((layer, param, tuple(index or ())) == target for layer, param, index in located)
    return {
        "passed": result.passed,
        "located": [
            [layer, param, list(index) if index else None] for layer, param, index in located
        ],
        "found_injected": found,
        "evaluations": result.evaluations,
        "observed": result.observed,  # g·v
        "expected": result.expected,  # the directional difference D
        "tolerance": result.tolerance,
        "text": str(result)[:400],
    }
