"""The compiled finite-difference path (numba) and the pure-numpy path compute the same thing.

Same estimates (to rounding: the two sum in different orders and the compiled one uses the
division-free series form of the tanh/sigmoid identity), same bounds (to the rounding of the
truncation term, a third difference), the same undecidable entries and steps — on every
activation the kernel carries (elu, silu, gelu and softmax, and cross_entropy, run on the numpy
path only), both its losses with every reduction, half and l2, depths 1 to 5, saturated weights
and ReLU kinks. The truth of either path is tests/sources/test_finite_diff.py's and
test_finite_diff_conventions.py's business (they run both).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import SourceLimitError
from harness.sources import finite_diff
from harness.sources.finite_diff import Estimate, estimate
from harness.sources.finite_diff import kernel as _fd_kernel
from harness.spec import Loss, NetworkSpec, Problem

pytestmark = pytest.mark.skipif(not _fd_kernel.AVAILABLE, reason="numba is not installed")

#: The activations the compiled kernel carries.
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "leaky_relu(0.2)", "identity", "softplus")
REDUCTIONS = ("mean", "sum", "elementwise_mean")


def _assert_same(compiled: Estimate, numpy_path: Estimate, where: str) -> None:
    pairs = zip(compiled.grads, numpy_path.grads, compiled.bound, numpy_path.bound)
    for l, (g_c, g_n, b_c, b_n) in enumerate(pairs, start=1):
        for t, name in enumerate(("W", "b")):
            scale = max(float(np.max(np.abs(g_n[t]))), 1e-300)
            decidable = np.isfinite(b_n[t])
            gap = np.abs(g_c[t] - g_n[t])[decidable]
            assert np.all(gap <= 1e-13 * scale + 2 * b_n[t][decidable]), (
                f"{where} layer {l} d{name}: estimates {float(np.max(gap, initial=0)):.2e} apart"
            )
            np.testing.assert_array_equal(
                np.isfinite(b_c[t]), decidable, err_msg=f"{where} layer {l} d{name}: +inf bounds"
            )
            np.testing.assert_allclose(
                b_c[t][decidable],
                b_n[t][decidable],
                rtol=0.05,
                atol=1e-300,
                err_msg=f"{where} layer {l} d{name}: bounds",
            )
    for (u_c, v_c), (u_n, v_n) in zip(compiled.undecidable, numpy_path.undecidable):
        np.testing.assert_array_equal(u_c, u_n, err_msg=f"{where}: undecidable W")
        np.testing.assert_array_equal(v_c, v_n, err_msg=f"{where}: undecidable b")
    for (h_c, k_c), (h_n, k_n) in zip(compiled.step, numpy_path.step):
        np.testing.assert_array_equal(h_c, h_n)
        np.testing.assert_array_equal(k_c, k_n)


def _both(problem: Problem) -> tuple[Estimate, Estimate]:
    return estimate(problem, kernel="compiled"), estimate(problem, kernel="numpy")


@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_both_paths_agree_on_every_activation_and_loss(activation: str, loss: str) -> None:
    output = "sigmoid" if loss == "bce" else activation
    for sizes, batch in (((3, 5, 4, 2), 6), ((2, 4, 4, 4, 3, 2), 3), ((4, 1), 2), ((3, 6, 2), 1)):
        spec = NetworkSpec(sizes, (activation,) * (len(sizes) - 2) + (output,), loss)
        for seed, scale in ((0, 1.0), (1, 3.0)):
            problem = Problem.random(spec, batch, seed=seed, weight_scale=scale)
            _assert_same(*_both(problem), f"{spec!r} seed={seed} scale={scale}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=6),
    activations=st.data(),
    loss=st.sampled_from(["mse", "bce"]),
    half=st.booleans(),
    reduction=st.sampled_from(REDUCTIONS),
    l2=st.sampled_from([0.0, 1e-3, 0.7]),
    batch=st.integers(1, 9),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.3, 1.0, 10.0]),
)
def test_both_paths_agree_on_random_networks(
    sizes: list[int],
    activations: st.DataObject,
    loss: str,
    half: bool,
    reduction: str,
    l2: float,
    batch: int,
    seed: int,
    scale: float,
) -> None:
    acts = [activations.draw(st.sampled_from(ACTIVATIONS)) for _ in sizes[1:]]
    if loss == "bce":
        acts[-1] = "sigmoid"
    convention = Loss(loss, half=half and loss == "mse", reduction=reduction)
    spec = NetworkSpec(tuple(sizes), tuple(acts), convention, l2=l2)
    problem = Problem.random(spec, batch, seed, scale)
    _assert_same(*_both(problem), repr(problem.spec))


def test_both_paths_flag_the_same_entries_at_a_kink() -> None:
    spec = NetworkSpec((2, 3, 3, 1), ("relu", "leaky_relu", "identity"), "mse")
    problem = Problem.random(spec, 4, seed=3, kink_margin=0.0)
    W1, b1 = problem.params[0]
    b1 = b1.copy()
    b1[1] = -float(W1[1] @ problem.X[:, 2])  # sample 2 sits exactly on neuron 1's kink
    params = [(W1, b1), *problem.params[1:]]
    on_kink = Problem(spec, params, problem.X, problem.Y, seed=problem.seed)
    compiled, numpy_path = _both(on_kink)
    assert compiled.undecidable[0][1][1], "the bias of the neuron on the kink is undecidable"
    _assert_same(compiled, numpy_path, "on a kink")


def test_the_arch_of_the_speed_goal_agrees() -> None:
    spec = NetworkSpec((64, 128, 128, 10), ("tanh", "tanh", "sigmoid"), "mse")
    problem = Problem.random(spec, 64, seed=0)
    _assert_same(*_both(problem), "E")


def test_an_unknown_kernel_is_refused() -> None:
    problem = Problem.random(NetworkSpec((2, 1), ("sigmoid",), "mse"), 1, seed=0)
    with pytest.raises(SourceLimitError, match="kernel must be one of"):
        estimate(problem, kernel="cuda")


def test_without_numba_auto_runs_numpy_and_compiled_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = Problem.random(NetworkSpec((2, 3, 1), ("tanh", "sigmoid"), "mse"), 2, seed=0)
    monkeypatch.setattr(_fd_kernel, "AVAILABLE", False)
    assert not finite_diff.compiled_available()
    with pytest.raises(SourceLimitError, match="needs numba"):
        estimate(problem, kernel="compiled")

    def no_kernel(*args: object) -> None:
        raise AssertionError("the compiled path ran")

    monkeypatch.setattr(_fd_kernel, "first_stage", no_kernel)
    _assert_same(estimate(problem), estimate(problem, kernel="numpy"), "auto without numba")
