"""The SymPy source: one width-free derivative per (depth, layer, tensor), summed by SymPy."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import reference
from harness import NetworkSpec, Problem
from harness.sources import symbolic


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_derivatives_are_free_of_deltas_and_widths(depth: int) -> None:
    for layer in range(1, depth + 1):
        for tensor in "Wb":
            dC = symbolic.derivative(depth, layer, tensor)
            assert not dC.has(sp.KroneckerDelta)
            assert not dC.has(sp.Piecewise)
            free = {str(s) for s in dC.free_symbols if isinstance(s, sp.Symbol) and s.is_integer}
            # Of the integer symbols, only the generic entry's indices and the widths remain free.
            assert free <= {"p", "q"} | {f"n{l}" for l in range(depth + 1)}
            assert "p" in free and (tensor == "b" or "q" in free)


def test_one_derivative_serves_every_width_activation_and_loss() -> None:
    symbolic.derivative.cache_clear()
    specs = [
        NetworkSpec((3, 5, 2), ("tanh", "sigmoid"), "bce"),
        NetworkSpec((7, 1, 4), ("relu", "identity"), "mse"),
        NetworkSpec((1, 9, 1), ("softplus", "leaky_relu"), "mse"),
    ]
    for spec in specs:
        problem = Problem.random(spec, 3, seed=0)
        ours = symbolic.gradients(problem)
        ref = reference.backward(
            problem.params, problem.X, problem.Y, spec.activations, spec.loss.name
        )
        for pair, ref_pair in zip(ours, ref, strict=True):
            for g, r in zip(pair, ref_pair, strict=True):
                assert g.shape == r.shape
                np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14 * np.abs(r).max())
    info = symbolic.derivative.cache_info()
    assert info.misses == 4  # (layer 1, 2) × (W, b), built once for depth 2
    assert info.hits >= 8


def test_the_first_layer_derivative_is_the_seed_chain_rule() -> None:
    """dC/dW1[p, q] of a depth-1 net is head'(z_p) · x_q, as SymPy finds it."""
    dC = symbolic.derivative(1, 1, "W")
    text = str(dC)
    assert "Derivative(head(" in text and "x[q]" in text


def test_overflowing_derivative_entries_are_redone_in_mpmath() -> None:
    """softplus' = e^z/(e^z+1) overflows in float64 for z > 709; the value must stay finite."""
    spec = NetworkSpec((1, 1), ("softplus",), "mse")
    W = np.array([[1.0]])
    b = np.array([0.0])
    X = np.array([[800.0, -3.0]])
    Y = np.array([[0.5, 0.5]])
    problem = Problem(spec, [(W, b)], X, Y)
    ((dW, db),) = symbolic.gradients(problem)
    ((rW, rb),) = reference.backward(problem.params, X, Y, spec.activations, spec.loss.name)
    assert np.all(np.isfinite(dW)) and np.all(np.isfinite(db))
    np.testing.assert_allclose(dW, rW, rtol=1e-12)
    np.testing.assert_allclose(db, rb, rtol=1e-12)


def test_saturated_bce_output_stays_finite() -> None:
    spec = NetworkSpec((2, 1), ("sigmoid",), "bce")
    W = np.array([[40.0, 40.0]])
    problem = Problem(spec, [(W, np.array([0.0]))], np.array([[1.0], [1.0]]), np.array([[0.0]]))
    ((dW, db),) = symbolic.gradients(problem)
    np.testing.assert_allclose(db, [1.0], rtol=1e-15)  # σ(80) - 0, and σ(80) rounds to 1
    np.testing.assert_allclose(dW, [[1.0, 1.0]], rtol=1e-15)


# ------------------------------------------------------------------------ the on-disk cache


def _clear_memory_caches() -> None:
    for value in vars(symbolic).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    sp.core.cache.clear_cache()


@pytest.fixture
def disk_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """$GRADCHECK_SYMBOLIC_CACHE set to an empty directory, with cold in-memory caches."""
    monkeypatch.setenv(symbolic.CACHE_ENV, str(tmp_path))
    _clear_memory_caches()
    yield tmp_path
    monkeypatch.delenv(symbolic.CACHE_ENV)
    _clear_memory_caches()


def _problem() -> Problem:
    spec = NetworkSpec((3, 4, 2), ("tanh", "sigmoid"), "bce")
    return Problem.random(spec, 5, seed=1)


def _forbid_building(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError(f"rebuilt {args} although the disk cache holds it")

    monkeypatch.setattr(symbolic, "_build_derivative", fail)
    monkeypatch.setattr(sp, "simplify", fail)


def _assert_same(
    a: list[tuple[np.ndarray, np.ndarray]], b: list[tuple[np.ndarray, np.ndarray]]
) -> None:
    for pair_a, pair_b in zip(a, b, strict=True):
        for ta, tb in zip(pair_a, pair_b, strict=True):
            np.testing.assert_array_equal(ta, tb)


def test_disk_cache_round_trip_gives_identical_gradients(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = _problem()
    built = symbolic.gradients(problem)
    files = sorted(p.name for p in disk_cache.glob("*.pickle"))
    # 4 derivatives of depth 2, tanh' and the bce-sigmoid head'.
    assert len(files) == 6, files
    assert not list(disk_cache.glob("*.tmp"))
    _clear_memory_caches()
    _forbid_building(monkeypatch)
    _assert_same(symbolic.gradients(problem), built)
    exact = symbolic.gradients(problem, digits=50)
    monkeypatch.undo()
    monkeypatch.setenv(symbolic.CACHE_ENV, str(disk_cache))
    _clear_memory_caches()
    _assert_same(exact.grads, symbolic.gradients(problem, digits=50).grads)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "foreign"])
def test_a_damaged_cache_file_is_rebuilt(disk_cache: Path, damage: str) -> None:
    problem = _problem()
    built = symbolic.gradients(problem)
    for path in disk_cache.glob("*.pickle"):
        data = path.read_bytes()
        path.write_bytes(
            {
                "truncate": data[: len(data) // 2],
                "garbage": b"\x80\x05not a pickle at all",
                "empty": b"",
                "foreign": pickle.dumps(("some other key", sp.Integer(7))),
            }[damage]
        )
    _clear_memory_caches()
    _assert_same(symbolic.gradients(problem), built)
    for path in disk_cache.glob("*.pickle"):  # and rewritten whole
        key, expr = pickle.loads(path.read_bytes())
        assert isinstance(expr, sp.Expr) and key[0] in path.name


def test_cache_files_of_different_depths_do_not_collide(disk_cache: Path) -> None:
    fresh = {depth: symbolic.derivative(depth, 1, "W") for depth in (1, 2)}
    assert fresh[1] != fresh[2]
    _clear_memory_caches()
    for depth in (2, 1):  # read back in the other order
        assert symbolic.derivative(depth, 1, "W") == fresh[depth]
    names = [p.name for p in disk_cache.glob("derivative-*.pickle")]
    assert len(names) == 2  # one file per (depth, layer, tensor)
