"""Test the tester: each gradient source, on its own, blames a wrong backprop on exactly the
tensors its bug lives in, and nowhere else.

For every wrong backprop of tests/meta/wrong_backprops.py, every spec of a small pool it runs on,
and every source separately, a (layer, tensor) is *blamed* when at least one of its entries differs
from that source beyond that source's tolerance:

- closed_form, symbolic: |candidate - g| > 1e-10 · max|g| over the tensor (the agreement tests'
  tolerance);
- finite_diff: |candidate - fd| > bound + 1e-12 · max|fd| (the bound covers the estimate's
  error, the small extra term the candidate's own float64 rounding), and the entry is not
  undecidable.

The blamed set must equal the bug's declared ``affected(spec)``: a source that misses a bug, or
blames a tensor the bug does not touch, fails here. `reference.backward` is the control group: no
source may blame it anywhere.

tests/meta is imported as `meta`: tests/ is not a package, so pytest's default (prepend) import
mode puts tests/ itself on sys.path, with `pytest` as well as `python -m pytest`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytest
from meta.wrong_backprops import WRONG_BACKPROPS, Backward, WrongBackprop
from numpy.typing import NDArray

import reference
from harness.spec import NetworkSpec, Problem

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]

SOURCES = ("closed_form", "symbolic", "finite_diff")
BATCH = 5
SEED = 11
EXACT_RTOL = 1e-10  # closed_form and symbolic: relative to max|g| of the tensor
CANDIDATE_RTOL = 1e-12  # finite_diff: the candidate's own rounding, on top of the bound

SPECS = (
    NetworkSpec((3, 3, 3, 3), ("tanh", "sigmoid", "identity"), "mse"),
    NetworkSpec((2, 4, 4, 1), ("sigmoid", "leaky_relu", "sigmoid"), "mse"),
    NetworkSpec((4, 5, 3, 2), ("relu", "softplus", "sigmoid"), "bce"),
    NetworkSpec((3, 3, 3), ("sigmoid", "tanh"), "mse"),
    NetworkSpec((4, 4, 4, 4), ("relu", "leaky_relu", "identity"), "mse"),
    NetworkSpec((2, 2, 2), ("softplus", "sigmoid"), "bce"),
    NetworkSpec((3, 2), ("tanh",), "mse"),
)


def _spec_id(spec: NetworkSpec) -> str:
    return f"{'-'.join(map(str, spec.sizes))}_{'-'.join(spec.activations)}_{spec.loss}"


@cache
def _problem(spec: NetworkSpec) -> Problem:
    return Problem.random(spec, batch=BATCH, seed=SEED)


@cache
def _source_view(source: str, spec: NetworkSpec) -> list[tuple[Array, Array, Mask]]:
    """Per tensor, in the order dW1, db1, dW2, ...: (source value, slack, decidable)."""
    module = importlib.import_module(f"harness.sources.{source}")
    problem = _problem(spec)
    view: list[tuple[Array, Array, Mask]] = []
    if source == "finite_diff":
        estimate = module.estimate(problem)
        for grads, bounds, undecidable in zip(estimate.grads, estimate.bound, estimate.undecidable):
            for g, bound, unsure in zip(grads, bounds, undecidable):
                g = np.asarray(g, dtype=np.float64)
                slack = np.asarray(bound) + CANDIDATE_RTOL * np.max(np.abs(g))
                view.append((g, slack, ~np.asarray(unsure, dtype=bool)))
    else:
        for grads in module.gradients(problem):
            for g in grads:
                g = np.asarray(g, dtype=np.float64)
                slack = np.full(g.shape, EXACT_RTOL * np.max(np.abs(g)))
                view.append((g, slack, np.ones(g.shape, dtype=bool)))
    return view


def _blamed(source: str, spec: NetworkSpec, backward: Backward) -> dict[tuple[int, str], str]:
    """The (layer, tensor) pairs ``source`` blames, each with a line that says why."""
    problem = _problem(spec)
    candidate = backward(list(problem.params), problem.X, problem.Y, spec.activations, spec.loss)
    tensors = [(l, t) for l in range(1, spec.depth + 1) for t in ("W", "b")]
    flat = [np.asarray(c) for pair in candidate for c in pair]
    assert len(flat) == len(tensors), f"{len(candidate)} (dW, db) pairs for {spec.depth} layers"
    blamed: dict[tuple[int, str], str] = {}
    for (layer, t), cand, (g, slack, decidable) in zip(tensors, flat, _source_view(source, spec)):
        assert cand.shape == g.shape, f"layer {layer} d{t}: shape {cand.shape} != {g.shape}"
        excess = np.where(decidable, np.abs(cand - g) - slack, -np.inf)
        if np.any(excess > 0):
            worst = tuple(int(i) for i in np.unravel_index(np.argmax(excess), excess.shape))
            blamed[(layer, t)] = (
                f"layer {layer} d{t}{list(worst)}: candidate {cand[worst]:.6g} but {source} "
                f"{g[worst]:.6g} (|Δ| {abs(cand[worst] - g[worst]):.1e} > {slack[worst]:.1e}); "
                f"{int(np.sum(excess > 0))}/{excess.size} entries differ"
            )
    return blamed


def _explain(blamed: dict[tuple[int, str], str], expected: set[tuple[int, str]]) -> str:
    wrongly = [why for key, why in sorted(blamed.items()) if key not in expected]
    missed = sorted(expected - set(blamed))
    return (
        f"blamed {sorted(blamed)} but the bug lives in {sorted(expected)}"
        + "".join(f"\n  blamed wrongly: {why}" for why in wrongly)
        + "".join(f"\n  not blamed: layer {l} d{t}" for l, t in missed)
    )


def _cases() -> list[object]:
    return [
        pytest.param(bug, spec, source, id=f"{name}-{source}-{_spec_id(spec)}")
        for name, bug in WRONG_BACKPROPS.items()
        for spec in SPECS
        if bug.runs_on(spec)
        for source in SOURCES
    ]


@pytest.mark.parametrize(("bug", "spec", "source"), _cases())
def test_source_blames_exactly_the_affected_tensors(
    bug: WrongBackprop, spec: NetworkSpec, source: str
) -> None:
    blamed = _blamed(source, spec, bug.backward)
    expected = bug.affected(spec)
    assert set(blamed) == expected, (
        f"{bug.name} on {spec!r}, reproduce with Problem.random(spec, batch={BATCH}, "
        f"seed={SEED}): {source} {_explain(blamed, expected)}"
    )


@pytest.mark.parametrize(
    ("spec", "source"),
    [pytest.param(s, src, id=f"{src}-{_spec_id(s)}") for s in SPECS for src in SOURCES],
)
def test_reference_is_blamed_nowhere(spec: NetworkSpec, source: str) -> None:
    blamed = _blamed(source, spec, reference.backward)
    assert not blamed, f"reference.backward on {spec!r}: {source} {_explain(blamed, set())}"


@pytest.mark.parametrize("bug", list(WRONG_BACKPROPS.values()), ids=list(WRONG_BACKPROPS))
def test_wrong_backprop_is_visible_and_only_its_values_are_wrong(bug: WrongBackprop) -> None:
    visible = [spec for spec in SPECS if bug.visible_on(spec)]
    assert len(visible) >= 2, f"{bug.name} shows on only {len(visible)} spec(s) of the pool"
    source = inspect.getsource(bug.backward)
    assert source.count("# BUG:") == 1, f"{bug.name} should mark exactly one bug"
    assert bug.description, f"{bug.name} has no docstring"
    for spec in (s for s in SPECS if bug.runs_on(s)):
        problem = _problem(spec)
        grads = bug.backward(
            list(problem.params), problem.X, problem.Y, spec.activations, spec.loss
        )
        _assert_shapes(grads, spec)


def _assert_shapes(grads: Sequence[tuple[Array, Array]], spec: NetworkSpec) -> None:
    assert len(grads) == spec.depth
    for layer, ((dW, db), (w_shape, b_shape)) in enumerate(zip(grads, spec.param_shapes), start=1):
        for name, d, shape in (("dW", dW, w_shape), ("db", db, b_shape)):
            assert isinstance(d, np.ndarray), f"layer {layer} {name}: {type(d).__name__}"
            assert d.dtype == np.float64, f"layer {layer} {name}: dtype {d.dtype}"
            assert d.shape == shape, f"layer {layer} {name}: shape {d.shape} != {shape}"
