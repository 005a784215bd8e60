"""The three sources and the reference agree, and the 50-digit values measure each one's error.

Every activation (6) × loss (2; bce with a sigmoid output) on architectures of depth 1–4 with
widths including 1, batch 1 and batch > 1.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import numpy as np
import pytest

import reference
from harness import ACTIVATIONS, LOSSES, NetworkSpec, Problem
from harness.sources import closed_form, finite_diff, symbolic

ARCHITECTURES = [(3, 2), (1, 1), (2, 1, 3), (3, 4, 1, 2), (2, 3, 2, 1, 2)]
BATCHES = [1, 5]

#: Agreement of the float64 backprops, per tensor: |Δ| <= AGREE · max|g|.
AGREE = 1e-10
#: Actual error of a float64 backprop against the 50-digit value, per tensor, relative to max|g|.
#: Rounding of a few dozen flops per entry: far below AGREE, so AGREE leaves no room to hide a bug.
FLOAT64_ERROR = 1e-13


def _spec(sizes: tuple[int, ...], activation: str, loss: str) -> NetworkSpec:
    output = "sigmoid" if loss == "bce" else activation
    return NetworkSpec(sizes, (activation,) * (len(sizes) - 2) + (output,), loss)


CASES = [
    pytest.param(_spec(sizes, activation, loss), batch, id=f"{activation}-{loss}-{sizes}-m{batch}")
    for activation, loss, sizes, batch in itertools.product(
        ACTIVATIONS, LOSSES, ARCHITECTURES, BATCHES
    )
]


def _tensors(grads: list[tuple[Any, Any]]) -> dict[str, Any]:
    return {
        f"layer {l} d{name}": tensor
        for l, pair in enumerate(grads, start=1)
        for name, tensor in zip("Wb", pair, strict=True)
    }


def _problem(spec: NetworkSpec, batch: int) -> Problem:
    seed = zlib.crc32(f"{spec!r} {batch}".encode()) % 1000  # fixed per case, varied across cases
    return Problem.random(spec, batch, seed=seed)


@pytest.mark.parametrize(("spec", "batch"), CASES)
def test_float64_sources_agree_with_the_reference(spec: NetworkSpec, batch: int) -> None:
    problem = _problem(spec, batch)
    by_source = {
        "reference": reference.backward(
            problem.params, problem.X, problem.Y, spec.activations, spec.loss
        ),
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
        "reference": _tensors(
            reference.backward(problem.params, problem.X, problem.Y, spec.activations, spec.loss)
        ),
        "closed_form": _tensors(closed_form.gradients(problem)),
        "symbolic": _tensors(symbolic.gradients(problem)),
    }
    fd, bound, undecidable = (
        _tensors(estimate.grads),
        _tensors(estimate.bound),
        _tensors(estimate.undecidable),
    )
    for where, truth in exact.items():
        truth64 = np.asarray(truth, dtype=np.float64)
        error_of = {
            name: np.asarray(np.abs(t[where] - truth), dtype=np.float64)
            for name, t in float64.items()
        }
        scale = float(np.max(np.abs(truth64)))
        for name, error in error_of.items():
            assert np.max(error) <= FLOAT64_ERROR * scale + 1e-300, (
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
