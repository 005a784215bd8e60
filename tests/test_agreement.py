"""The three sources and the reference agree, and the 50-digit values measure each one's error.

The seeds' conventions: the six seed activations × mse/bce (bce with a sigmoid output) on
architectures of depth 1–4 with widths including 1, batch 1 and batch > 1. Issue 11's conventions:
every activation (leaky slopes 0.2 and 0.3 and softmax included) × every loss convention (mse × ½ ×
3 reductions, bce × 3, cross_entropy × 3) × l2 ∈ {0, 1e-3}, each on one of the architectures and
batches in turn.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import numpy as np
import pytest

import reference
from harness import LOSSES, Loss, NetworkSpec, Problem
from harness.sources import closed_form, finite_diff, symbolic
from harness.strategies import ALL_ACTIVATIONS, LOSS_CONVENTIONS, SEED_ACTIVATIONS
from harness.tolerance import candidate_bound

ARCHITECTURES = [(3, 2), (1, 1), (2, 1, 3), (3, 4, 1, 2), (2, 3, 2, 1, 2)]
BATCHES = [1, 5]

#: Agreement of the float64 backprops, per tensor: |Δ| <= AGREE · max|g|.
AGREE = 1e-10
#: Actual error of a float64 backprop against the 50-digit value, per tensor, relative to max|g|
#: beyond the rounding model (harness.tolerance, which covers entries whose terms cancel: a
#: one-output softmax, whose loss term is exactly 0, leaves only l2·W). Rounding of a few dozen
#: flops per entry: far below AGREE, so AGREE leaves no room to hide a bug.
FLOAT64_ERROR = 1e-13


_OUTPUT_OF = {"bce": "sigmoid", "cross_entropy": "softmax"}


def _spec(
    sizes: tuple[int, ...], activation: str, loss: Loss | str, l2: float = 0.0
) -> NetworkSpec:
    name = Loss(loss).name if isinstance(loss, str) else loss.name
    hidden = "tanh" if activation == "softmax" else activation  # softmax: output layer only
    output = _OUTPUT_OF.get(name, activation)
    return NetworkSpec(sizes, (hidden,) * (len(sizes) - 2) + (output,), loss, l2=l2)


CASES = [
    pytest.param(_spec(sizes, activation, loss), batch, id=f"{activation}-{loss}-{sizes}-m{batch}")
    for activation, loss, sizes, batch in itertools.product(
        SEED_ACTIVATIONS, ("mse", "bce"), ARCHITECTURES, BATCHES
    )
]
CASES += [
    pytest.param(
        _spec(ARCHITECTURES[i % len(ARCHITECTURES)], activation, loss, l2),
        BATCHES[i % len(BATCHES)],
        id=f"{activation}-{loss!r}-l2={l2}",
    )
    for i, (activation, loss, l2) in enumerate(
        itertools.product(ALL_ACTIVATIONS, LOSS_CONVENTIONS, (0.0, 1e-3))
    )
]
assert set(LOSSES) == {loss.name for loss in LOSS_CONVENTIONS}


def _tensors(grads: list[tuple[Any, Any]]) -> dict[str, Any]:
    return {
        f"layer {l} d{name}": tensor
        for l, pair in enumerate(grads, start=1)
        for name, tensor in zip("Wb", pair, strict=True)
    }


def _problem(spec: NetworkSpec, batch: int) -> Problem:
    seed = zlib.crc32(f"{spec!r} {batch}".encode()) % 1000  # fixed per case, varied across cases
    return Problem.random(spec, batch, seed=seed)


def _reference(problem: Problem) -> list[tuple[Any, Any]]:
    spec = problem.spec
    return reference.backward(  # type: ignore[no-any-return]
        problem.params, problem.X, problem.Y, spec.activations, spec.loss.name,
        half=spec.loss.half, reduction=spec.loss.reduction, l2=spec.l2,
    )  # fmt: skip


@pytest.mark.parametrize(("spec", "batch"), CASES)
def test_float64_sources_agree_with_the_reference(spec: NetworkSpec, batch: int) -> None:
    problem = _problem(spec, batch)
    by_source = {
        "reference": _reference(problem),
        "closed_form": closed_form.gradients(problem),
        "symbolic": symbolic.gradients(problem),
    }
    tensors = {name: _tensors(grads) for name, grads in by_source.items()}
    for where, ref in tensors["reference"].items():
        scale = max(np.max(np.abs(t[where])) for t in tensors.values())
        for a, b in itertools.combinations(tensors, 2):
            assert tensors[a][where].shape == ref.shape
            gap = np.max(np.abs(tensors[a][where] - tensors[b][where]))
            assert gap <= AGREE * scale, f"{where}: {a} vs {b} differ by {gap:.3e}"


@pytest.mark.parametrize(("spec", "batch"), CASES)
def test_each_float64_source_is_within_its_error_of_the_50_digit_value(
    spec: NetworkSpec, batch: int
) -> None:
    problem = _problem(spec, batch)
    exact = _tensors(symbolic.gradients(problem, digits=50).exact)
    estimate = finite_diff.estimate(problem)
    float64 = {
        "reference": _tensors(_reference(problem)),
        "closed_form": _tensors(closed_form.gradients(problem)),
        "symbolic": _tensors(symbolic.gradients(problem)),
    }
    fd, bound, undecidable = (
        _tensors(estimate.grads),
        _tensors(estimate.bound),
        _tensors(estimate.undecidable),
    )
    rounding = _tensors(candidate_bound(problem))
    for where, truth in exact.items():
        truth64 = np.asarray(truth, dtype=np.float64)
        error_of = {
            name: np.asarray(np.abs(t[where] - truth), dtype=np.float64)
            for name, t in float64.items()
        }
        scale = float(np.max(np.abs(truth64)))
        for name, error in error_of.items():
            assert np.max(error - rounding[where]) <= FLOAT64_ERROR * scale + 1e-300, (
                f"{where}: {name} is {np.max(error):.3e} from the 50-digit value "
                f"(scale {scale:.3e})"
            )
        fd_error = np.asarray(np.abs(fd[where] - truth), dtype=np.float64)
        outside = (fd_error > bound[where]) & ~undecidable[where]
        assert not np.any(outside), (
            f"{where}: finite differences outside their bound at {np.argwhere(outside)[:3]}: "
            f"error {fd_error[outside][:3]} > bound {bound[where][outside][:3]}"
        )


def test_precise_gradients_round_to_float64_and_keep_the_digits() -> None:
    spec = NetworkSpec((2, 3, 1), ("tanh", "sigmoid"), "bce")
    problem = Problem.random(spec, 4, seed=1)
    precise = symbolic.gradients(problem, digits=50)
    assert precise.digits == 50
    for (dW, db), (eW, eb) in zip(precise.grads, precise.exact, strict=True):
        assert dW.dtype == np.float64 and db.dtype == np.float64
        assert dW.shape == eW.shape and db.shape == eb.shape
        assert np.array_equal(dW, np.asarray(eW, dtype=np.float64))
    # More than float64 carries: the exact value differs from its own rounding.
    e = precise.exact[0][0].flat[0]
    assert e != float(e)


def test_fifty_digits_is_refused_on_a_large_net() -> None:
    from harness import SourceLimitError

    problem = Problem.random(NetworkSpec((16, 16, 2), ("tanh", "identity")), 2, seed=0)
    with pytest.raises(SourceLimitError, match="at most 200 parameters"):
        symbolic.gradients(problem, digits=50)
