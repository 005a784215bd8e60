"""Test the tester on the conventions of issue 11: softmax + cross-entropy + L2, ½·MSE, the
reductions, gelu / silu / elu / leaky_relu(α), in implementations written as other people write
them (tests/meta/conventions).

Two grounds of truth:

- this file's own: J evaluated at 50 digits with mpmath (a forward pass written here, from the
  definitions of DESIGN.md) and differentiated by central differences with a step of 1e-18, an
  error far below float64's. It proves, without any gradient source of the harness, that each
  correct implementation is right and that each wrong one is wrong on exactly the tensors its
  case declares;
- `harness.check` on the same fixed problem: a correct case passes with no finding, a wrong one
  is blamed on exactly its tensors, and `harness.diagnose` names its pattern where it has one,
  in words that say what to fix.

tests/meta is imported as `meta`, as in tests/test_meta.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import cache

import mpmath
import numpy as np
import pytest
from meta.conventions import BATCH, CASES, SEED, Case
from numpy.typing import NDArray

import harness
from harness import CheckReport, NetworkSpec, Problem
from harness.network import leaky_slope

Array = NDArray[np.float64]
Key = tuple[int, str]
MP = mpmath.mpf

DIGITS = 50
STEP = MP("1e-18")
#: A correct float64 implementation is within this of the 50-digit gradient, relative to the
#: tensor's largest entry (its own rounding is ~1e-15 of it on these small nets).
CORRECT_RTOL = 1e-12
#: A wrong tensor is off by more than this, relative (the smallest bug here moves ~1e-4).
WRONG_RTOL = 1e-8

pytestmark = pytest.mark.filterwarnings(r"ignore::RuntimeWarning:meta\.")


# --- J at 50 digits: a forward pass of this file's own ------------------------------------------


def _activation(name: str) -> Callable[[list[mpmath.mpf]], list[mpmath.mpf]]:
    """The activation on one sample's column (a list); softmax is the only coupled one."""
    elementwise: dict[str, Callable[[mpmath.mpf], mpmath.mpf]] = {
        "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
        "tanh": mpmath.tanh,
        "relu": lambda z: z if z > 0 else MP(0),
        "identity": lambda z: z,
        "softplus": lambda z: mpmath.log(1 + mpmath.exp(z)),
        "elu": lambda z: z if z > 0 else mpmath.exp(z) - 1,
        "silu": lambda z: z / (1 + mpmath.exp(-z)),
        "gelu": lambda z: z * mpmath.erfc(-z / mpmath.sqrt(2)) / 2,
    }
    if name == "softmax":

        def softmax(z: list[mpmath.mpf]) -> list[mpmath.mpf]:
            e = [mpmath.exp(v) for v in z]
            total = mpmath.fsum(e)
            return [v / total for v in e]

        return softmax
    alpha = leaky_slope(name)  # reads the slope out of the name; no derivative in it
    if alpha is not None:
        slope = MP(alpha)
        return lambda z: [v if v > 0 else slope * v for v in z]
    g = elementwise[name]
    return lambda z: [g(v) for v in z]


def _sample_loss(loss: str, a: list[mpmath.mpf], y: list[mpmath.mpf]) -> mpmath.mpf:
    if loss == "mse":
        return mpmath.fsum((ai - yi) ** 2 for ai, yi in zip(a, y))
    if loss == "bce":
        return -mpmath.fsum(
            yi * mpmath.log(ai) + (1 - yi) * mpmath.log(1 - ai) for ai, yi in zip(a, y)
        )
    if loss == "cross_entropy":
        return -mpmath.fsum(yi * mpmath.log(ai) for ai, yi in zip(a, y) if yi != 0)
    raise ValueError(f"unknown loss {loss!r}")


def _objective(
    spec: NetworkSpec, params: list[list[list[mpmath.mpf]]], X: Array, Y: Array
) -> mpmath.mpf:
    """J = Σ_i C_i / divisor + (l2/2)·Σ_l ‖W^(l)‖²; ``params`` per layer: W row-major, then b."""
    acts = [_activation(name) for name in spec.activations]
    m = X.shape[1]
    total = MP(0)
    for i in range(m):
        a = [MP(float(v)) for v in X[:, i]]
        for l, (n_prev, n_l) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:])):
            flat = params[l]
            z = [
                mpmath.fsum(flat[j * n_prev + k] * a[k] for k in range(n_prev))
                + flat[n_l * n_prev + j]
                for j in range(n_l)
            ]
            a = acts[l](z)
        total += _sample_loss(spec.loss.name, a, [MP(float(v)) for v in Y[:, i]])
    J = total / MP(spec.divisor(m))
    if spec.l2:
        squares = mpmath.fsum(
            v**2
            for flat, (n_prev, n_l) in zip(params, zip(spec.sizes[:-1], spec.sizes[1:]))
            for v in flat[: n_l * n_prev]
        )
        J += MP(spec.l2) / 2 * squares
    return J


@cache
def _problem(spec: NetworkSpec) -> Problem:
    return Problem.random(spec, batch=BATCH, seed=SEED)


@cache
def _truth(spec: NetworkSpec) -> list[tuple[Array, Array]]:
    """dJ/dθ by central differences of the 50-digit J, rounded to float64."""
    problem = _problem(spec)
    with mpmath.workdps(DIGITS):
        params = [[MP(float(v)) for v in (*W.ravel(), *b)] for W, b in problem.params]
        J = float(_objective(spec, params, problem.X, problem.Y))
        J_float64 = spec.objective(problem.params, problem.X, problem.Y)
        assert abs(J - J_float64) <= 1e-12 * abs(J), f"this file's J {J!r}, spec's {J_float64!r}"
        grads = []
        for l, (W, b) in enumerate(problem.params):
            flat = []
            for p in range(W.size + b.size):
                saved = params[l][p]
                params[l][p] = saved + STEP
                up = _objective(spec, params, problem.X, problem.Y)
                params[l][p] = saved - STEP
                down = _objective(spec, params, problem.X, problem.Y)
                params[l][p] = saved
                flat.append(float((up - down) / (2 * STEP)))
            values = np.array(flat)
            grads.append((values[: W.size].reshape(W.shape), values[W.size :]))
    return grads


def _run(case: Case) -> list[tuple[Array, Array]]:
    problem = _problem(case.spec)
    params = [(np.array(W), np.array(b)) for W, b in problem.params]
    output = case.backward(
        params,
        np.array(problem.X),
        np.array(problem.Y),
        list(case.spec.activations),
        case.spec.loss.name,
    )
    assert isinstance(output, list)
    return [
        (np.asarray(dW, dtype=np.float64), np.asarray(db, dtype=np.float64)) for dW, db in output
    ]


def _off(case: Case, rtol: float) -> dict[Key, str]:
    """The tensors where the case's output differs from the 50-digit truth by more than rtol of
    the tensor's largest entry, each with its worst entry."""
    off = {}
    for l, (got, want) in enumerate(zip(_run(case), _truth(case.spec)), start=1):
        for t, g, w in zip("Wb", got, want):
            assert g.shape == w.shape, f"layer {l} d{t}: shape {g.shape} != {w.shape}"
            scale = float(np.max(np.abs(w)))
            delta = np.abs(g - w)
            if float(np.max(delta)) > rtol * scale:
                worst = np.unravel_index(int(np.argmax(delta)), delta.shape)
                off[(l, t)] = (
                    f"layer {l} d{t}{list(map(int, worst))}: {g[worst]!r} vs {w[worst]!r} "
                    f"(max|g| {scale:.3g})"
                )
    return off


CORRECT = [case for case in CASES.values() if case.correct]
WRONG = [case for case in CASES.values() if not case.correct]


def _ids(cases: Sequence[Case]) -> list[str]:
    return [case.name for case in cases]


# --- against the 50-digit objective (no source of the harness involved) --------------------------


@pytest.mark.parametrize("case", CORRECT, ids=_ids(CORRECT))
def test_correct_implementation_matches_the_50_digit_gradient(case: Case) -> None:
    off = _off(case, CORRECT_RTOL)
    assert not off, f"{case.name} on {case.spec!r}: " + "; ".join(off.values())


@pytest.mark.parametrize("case", WRONG, ids=_ids(WRONG))
def test_wrong_implementation_is_off_exactly_where_declared(case: Case) -> None:
    clean = _off(case, CORRECT_RTOL)
    wrong = _off(case, WRONG_RTOL)
    assert set(wrong) == set(case.affected), (
        f"{case.name}: off at {sorted(wrong)}, declared {sorted(case.affected)}"
    )
    assert set(clean) == set(wrong), (
        f"{case.name}: slightly off at {sorted(set(clean) - set(wrong))}"
    )


def test_cases_are_well_formed() -> None:
    right_code = {case.backward for case in CORRECT}
    for case in CASES.values():
        assert case.description, f"{case.name} has no docstring"
        bugs = inspect.getsource(case.backward).count("# BUG:")
        if case.correct:
            assert bugs == 0, f"{case.name}: right code should mark no bug"
        else:  # wrong code with one bug, or right code under a convention it does not compute
            assert bugs == 1 or (bugs == 0 and case.backward in right_code), case.name
        assert case.must_name() <= case.affected
        assert (case.pattern is None) == (case.says is None)
    assert len(WRONG) >= 10 and len(CORRECT) >= 4


# --- harness.check on the same problem ----------------------------------------------------------


@cache
def _report(name: str) -> CheckReport:
    case = CASES[name]
    return harness.check(case.backward, _problem(case.spec), timeout=30.0)


def _context(case: Case, report: CheckReport) -> str:
    return f"{case.name} on Problem.random({case.spec!r}, batch={BATCH}, seed={SEED}):\n{report}"


@pytest.mark.parametrize("case", CORRECT, ids=_ids(CORRECT))
def test_check_passes_a_correct_implementation(case: Case) -> None:
    report = _report(case.name)
    assert report.passed and not report.findings, _context(case, report)
    assert not report.harness_faults, _context(case, report)


@pytest.mark.parametrize("case", WRONG, ids=_ids(WRONG))
def test_check_blames_exactly_the_affected_tensors(case: Case) -> None:
    report = _report(case.name)
    assert not report.harness_faults, _context(case, report)
    assert not report.passed, f"not flagged: {_context(case, report)}"
    assert {f.kind for f in report.findings} == {"value"}, _context(case, report)
    blamed = {(f.layer, f.param) for f in report.findings}
    assert blamed == set(case.affected), (
        f"blamed {sorted(blamed, key=str)}, the bug lives in {sorted(case.affected)}; "
        f"{_context(case, report)}"
    )


NAMED = [case for case in WRONG if case.pattern is not None]


@pytest.mark.parametrize("case", NAMED, ids=_ids(NAMED))
def test_diagnose_names_the_pattern(case: Case) -> None:
    from harness.compare import evaluate_sources
    from harness.diagnose import diagnose

    problem = _problem(case.spec)
    wrong = [(int(l), str(t)) for l, t in case.affected]
    found = diagnose(problem, _run(case), evaluate_sources(problem), wrong)
    for key in sorted(case.must_name()):
        assert key in found, f"{case.name}: layer {key[0]} d{key[1]} not named; named {found}"
        d = found[key]
        assert d.pattern == case.pattern, f"{case.name} at {key}: {d}"
        assert case.says is not None and case.says in d.text, f"{case.name} at {key}: {d.text!r}"
        if case.factor is not None:
            assert d.factor == pytest.approx(case.factor, rel=1e-12), f"{case.name} at {key}: {d}"
    shown = {(f.layer, f.param): f.diagnosis for f in _report(case.name).findings}
    for key in case.must_name():
        assert shown.get(key) == found[key].text, f"the finding at {key} says {shown.get(key)!r}"
