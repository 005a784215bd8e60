"""diagnose names the pattern of a wrong tensor, and names nothing it cannot explain.

Each bug is built independently of harness.diagnose: from the truth (factors, transposes,
reversed layers, one entry), from tests/meta/wrong_backprops.py, from `reference.backward` run
in float32, or from `_student_backward` below, a seed 001 backprop with a hook for one bug.
`compare` finds the wrong tensors; `diagnose` must name exactly those, with the right layer,
factor, index or function.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import pytest
from meta.wrong_backprops import WRONG_BACKPROPS
from numpy.typing import NDArray

import reference
from harness.compare import SourceValues, compare, evaluate_sources
from harness.diagnose import PATTERNS, Diagnosis, diagnose
from harness.network import forward
from harness.spec import Loss, NetworkSpec, Problem

Array = NDArray[np.float64]
Grads = list[tuple[Array, Array]]
Key = tuple[int, str]

BATCH = 5  # m: distinct from 2 and from every n_L below, so named factors do not coincide
SEED = 7
#: Equal widths: layer-shifted and reversed-layers fit; every W is square.
SQUARE = NetworkSpec((4, 4, 4, 4), ("tanh", "sigmoid", "softplus"), "mse")
#: Different widths, n_L = 3: the transposed dW is a scrambled reshape.
GENERIC = NetworkSpec((3, 6, 4, 3), ("tanh", "sigmoid", "identity"), "mse")
BCE = NetworkSpec((4, 6, 5, 3), ("relu", "sigmoid", "sigmoid"), "bce")
SPECS = (SQUARE, GENERIC, BCE)


@cache
def _case(spec: NetworkSpec) -> tuple[Problem, SourceValues]:
    problem = Problem.random(spec, BATCH, SEED)
    return problem, evaluate_sources(problem)


def _truth(spec: NetworkSpec) -> Grads:
    return [(dW.copy(), db.copy()) for dW, db in _case(spec)[1].grads["symbolic"]]


def _diagnosed(
    spec: NetworkSpec, candidate: Sequence[tuple[Array, Array]]
) -> tuple[set[Key], dict[Key, Diagnosis]]:
    """The tensors compare finds wrong, and diagnose's names for them (never for others)."""
    problem, sources = _case(spec)
    records = compare(problem, candidate, sources)
    wrong = [(r.layer, r.param) for r in records if r.status == "mismatch"]
    assert wrong, "the candidate was supposed to be wrong somewhere"
    found = diagnose(problem, candidate, sources, wrong)
    assert set(found) <= set(wrong)
    assert all(d.pattern in PATTERNS for d in found.values())
    return {(int(l), str(t)) for l, t in wrong}, found


def _named(spec: NetworkSpec, candidate: Sequence[tuple[Array, Array]]) -> dict[Key, Diagnosis]:
    """diagnose's names, which must cover every wrong tensor."""
    wrong, found = _diagnosed(spec, candidate)
    assert set(found) == wrong, f"no pattern for {sorted(wrong - set(found))}; named: {found}"
    return found


def _run(spec: NetworkSpec, backward: Callable[..., Grads]) -> Grads:
    problem, _ = _case(spec)
    return backward(list(problem.params), problem.X, problem.Y, spec.activations, spec.loss)


# --- an independent student backprop with one hook per kind of bug -------------------------------

_STUDENT_G_PRIME: dict[str, Callable[[Array], Array]] = {
    "sigmoid": lambda Z: 1.0 / (1.0 + np.exp(-Z)) * (1.0 - 1.0 / (1.0 + np.exp(-Z))),
    "tanh": lambda Z: 1.0 - np.tanh(Z) ** 2,
    "relu": lambda Z: (Z > 0).astype(np.float64),
    "leaky_relu": lambda Z: np.where(Z > 0, 1.0, 0.01),
    "identity": np.ones_like,
    "softplus": lambda Z: 1.0 / (1.0 + np.exp(-Z)),
}


def _student_backward(
    problem: Problem,
    g_prime: Callable[[int, Array, Array], Array | None] = lambda l, Z, A: None,
    backward_W: Callable[[int], Array | None] = lambda l: None,
    A_prev: Callable[[int], Array | None] = lambda l: None,
) -> Grads:
    """Seed 001's backprop; a hook that returns an array replaces g'(Z^(l)), the W in
    dJ_dA^(l-1) = W^T dJ_dZ^(l), or A^(l-1) in dJ_dW^(l)."""
    spec, X, Y, m = problem.spec, problem.X, problem.Y, problem.batch
    cache_ = forward(problem.params, X, spec.activations)
    L = spec.depth
    dJ_dA = 2.0 * (cache_[-1][1] - Y) / m
    grads: Grads = []
    for l in range(L, 0, -1):
        W = problem.params[l - 1][0]
        Z, A = cache_[l - 1]
        g = g_prime(l, Z, A)
        dJ_dZ = dJ_dA * (_STUDENT_G_PRIME[spec.activations[l - 1]](Z) if g is None else g)
        prev = A_prev(l)
        prev = (X if l == 1 else cache_[l - 2][1]) if prev is None else prev
        grads.append((dJ_dZ @ prev.T, dJ_dZ.sum(axis=1)))
        M = backward_W(l)
        dJ_dA = (W if M is None else M).T @ dJ_dZ
    return grads[::-1]


# --- no false naming ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(s.activations))
def test_the_reference_gets_no_diagnosis_even_when_every_tensor_is_offered(
    spec: NetworkSpec,
) -> None:
    problem, sources = _case(spec)
    grads = _run(spec, reference.backward)
    assert all(r.status == "ok" for r in compare(problem, grads, sources))
    every = [(l, t) for l in range(1, spec.depth + 1) for t in "Wb"]
    assert diagnose(problem, grads, sources, every) == {}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(s.activations))
@pytest.mark.parametrize("relative", [1e-3, 0.1])
def test_random_perturbation_of_every_entry_is_no_known_pattern(
    spec: NetworkSpec, relative: float
) -> None:
    rng = np.random.default_rng(1)
    noisy = [
        (
            dW * (1 + relative * rng.standard_normal(dW.shape)),
            db * (1 + relative * rng.standard_normal(db.shape)),
        )
        for dW, db in _truth(spec)
    ]
    assert _diagnosed(spec, noisy)[1] == {}


def test_a_zero_gradient_is_no_known_pattern() -> None:
    zeros = _run(GENERIC, WRONG_BACKPROPS["first_layer_skipped"].backward)
    assert _diagnosed(GENERIC, zeros)[1] == {}


# --- tensor-level patterns ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "text"),
    [
        (2.0, "scaled by 2"),
        # Against plain mse, 1/2 is the ½·MSE gradient and 1/n_L torch's mean over every entry.
        (0.5, "scaled by 1/2: a ½·MSE convention? declare Loss('mse', half=True)"),
        (float(BATCH), "scaled by m = 5"),
        (1 / BATCH, "scaled by 1/m = 0.2"),
        (-1 / BATCH, "scaled by -1/m = -0.2"),
        (
            1 / 3,
            "scaled by 1/n_L = 0.333333: a mean over every output entry (torch's default)? "
            "declare Loss('mse', reduction='elementwise_mean')",
        ),
        (0.37, "scaled by 0.37"),
    ],
)
def test_a_scaled_gradient_is_named_with_its_factor(factor: float, text: str) -> None:
    scaled = [(factor * dW, factor * db) for dW, db in _run(GENERIC, reference.backward)]
    found = _named(GENERIC, scaled)
    assert {(d.pattern, d.text) for d in found.values()} == {("scaled", text)}
    assert all(d.factor == pytest.approx(factor, rel=1e-9) for d in found.values())


def test_minus_one_is_sign_flipped_not_scaled() -> None:
    flipped = [(-dW, -db) for dW, db in _run(BCE, reference.backward)]
    found = _named(BCE, flipped)
    assert {(d.pattern, d.text, d.factor) for d in found.values()} == {
        ("sign-flipped", "sign-flipped", -1.0)
    }


def test_coinciding_names_are_reported_together() -> None:
    problem = Problem.random(GENERIC, batch=2, seed=SEED)
    sources = evaluate_sources(problem)
    doubled = [(2 * dW, 2 * db) for dW, db in sources.grads["symbolic"]]
    every = [(l, t) for l in (1, 2, 3) for t in "Wb"]
    found = diagnose(problem, doubled, sources, every)
    assert {d.text for d in found.values()} == {"scaled by m = 2"}


@pytest.mark.parametrize(("layer", "param", "index"), [(2, "W", (1, 3)), (3, "b", (2,))])
@pytest.mark.parametrize("relative", [1e-6, 3.0])
def test_a_single_wrong_entry_is_named_with_its_index(
    layer: int, param: str, index: tuple[int, ...], relative: float
) -> None:
    grads = _run(GENERIC, reference.backward)
    tensor = grads[layer - 1]["Wb".index(param)]
    tensor[index] *= 1 + relative
    found = _named(GENERIC, grads)
    assert set(found) == {(layer, param)}
    assert found[(layer, param)].pattern == "single-entry"
    assert found[(layer, param)].index == index
    assert found[(layer, param)].text == f"single entry wrong at [{', '.join(map(str, index))}]"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(s.activations))
def test_a_float32_backprop_is_named_float32_precision(spec: NetworkSpec) -> None:
    problem, _ = _case(spec)
    f32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in problem.params]
    X, Y = problem.X.astype(np.float32), problem.Y.astype(np.float32)
    grads = reference.backward(f32, X, Y, spec.activations, spec.loss)
    candidate = [(dW.astype(np.float64), db.astype(np.float64)) for dW, db in grads]
    found = _named(spec, candidate)
    assert {d.pattern for d in found.values()} == {"float32-precision"}
    assert all(
        "relative)" in d.text and d.text.startswith("float32 precision") for d in found.values()
    )


@pytest.mark.parametrize("spec", [SQUARE, GENERIC], ids=["square", "reshaped"])
def test_the_rows_as_samples_dW_is_named_transposed(spec: NetworkSpec) -> None:
    found = _named(spec, _run(spec, WRONG_BACKPROPS["transposed_dW"].backward))
    assert set(found) == {(1, "W"), (2, "W"), (3, "W")}
    assert {d.pattern for d in found.values()} == {"transposed"}
    if spec is SQUARE:
        assert {d.text for d in found.values()} == {"looks transposed"}


def test_gradients_in_reverse_layer_order_are_named_reversed_layers() -> None:
    grads = _run(SQUARE, reference.backward)[::-1]
    found = _named(SQUARE, grads)
    assert set(found) == {(1, "W"), (1, "b"), (3, "W"), (3, "b")}  # layer 2 is its own mirror
    assert {(key, d.pattern, d.layer) for key, d in found.items()} == {
        ((1, "W"), "reversed-layers", 3), ((1, "b"), "reversed-layers", 3),
        ((3, "W"), "reversed-layers", 1), ((3, "b"), "reversed-layers", 1),
    }  # fmt: skip


# --- network-level patterns --------------------------------------------------------------------


@pytest.mark.parametrize("bug_layer", [1, 2, 3])
def test_a_missing_activation_derivative_is_blamed_on_its_layer(bug_layer: int) -> None:
    problem, _ = _case(SQUARE)
    grads = _student_backward(
        problem, g_prime=lambda l, Z, A: np.ones_like(Z) if l == bug_layer else None
    )
    found = _named(SQUARE, grads)
    name = SQUARE.activations[bug_layer - 1]
    assert set(found) == {(l, t) for l in range(1, bug_layer + 1) for t in "Wb"}
    for d in found.values():
        assert (d.pattern, d.layer, d.function) == (
            "missing-activation-derivative",
            bug_layer,
            name,
        )
        assert d.text == f"missing g' of layer {bug_layer} ({name})"


def test_g_prime_of_A_is_derivative_at_activation_at_every_smooth_layer() -> None:
    found = _named(SQUARE, _run(SQUARE, WRONG_BACKPROPS["g_prime_of_A"].backward))
    assert {d.pattern for d in found.values()} == {"derivative-at-activation"}
    assert {d.layer for d in found.values()} == {3}
    assert found[(3, "W")].text == "g'(a) used where g'(z) belongs at layer 3 (softplus)"
    assert found[(1, "b")].text == (
        "g'(a) used where g'(z) belongs at layers 1, 2, 3 (tanh, sigmoid, softplus)"
    )


def test_a_single_layer_g_prime_of_A_is_blamed_on_that_layer() -> None:
    problem, _ = _case(GENERIC)
    tanh_prime = _STUDENT_G_PRIME["tanh"]
    grads = _student_backward(problem, g_prime=lambda l, Z, A: tanh_prime(A) if l == 1 else None)
    found = _named(GENERIC, grads)
    assert set(found) == {(1, "W"), (1, "b")}
    assert {(d.pattern, d.layer, d.text) for d in found.values()} == {
        ("derivative-at-activation", 1, "g'(a) used where g'(z) belongs at layer 1 (tanh)")
    }


@pytest.mark.parametrize("spec", [GENERIC, BCE], ids=["one-sigmoid", "two-sigmoids"])
def test_sigmoid_prime_is_sigmoid_is_a_wrong_activation_derivative(spec: NetworkSpec) -> None:
    found = _named(spec, _run(spec, WRONG_BACKPROPS["sigmoid_prime_is_sigmoid"].backward))
    top_sigmoid = max(l for l, name in enumerate(spec.activations, start=1) if name == "sigmoid")
    for d in found.values():
        assert (d.pattern, d.layer, d.function) == (
            "wrong-activation-derivative",
            top_sigmoid,
            "softplus",
        )
        assert d.text.startswith("derivative matches softplus' instead of sigmoid' at layer")
    if spec is BCE:  # sigmoids at layers 2 and 3: layer 1 depends on both
        assert found[(1, "W")].text.endswith("at layers 2, 3")


def test_another_activations_derivative_is_named() -> None:
    problem, _ = _case(GENERIC)
    relu_prime = _STUDENT_G_PRIME["relu"]
    grads = _student_backward(problem, g_prime=lambda l, Z, A: relu_prime(Z) if l == 1 else None)
    found = _named(GENERIC, grads)
    assert {(d.pattern, d.layer, d.function, d.text) for d in found.values()} == {
        (
            "wrong-activation-derivative",
            1,
            "relu",
            "derivative matches relu' instead of tanh' at layer 1",
        )
    }


def test_backward_sum_uses_own_W_is_layer_shifted() -> None:
    found = _named(SQUARE, _run(SQUARE, WRONG_BACKPROPS["backward_sum_uses_own_W"].backward))
    assert set(found) == {(1, "W"), (1, "b"), (2, "W"), (2, "b")}
    assert {(d.pattern, d.layer) for d in found.values()} == {("layer-shifted", 2)}
    assert found[(2, "W")].text == "backward sum into layer 2 uses W2 instead of W3"
    assert found[(1, "W")].text == "backward sums into layers 1, 2 use W(l) instead of W(l+1)"


def test_a_neighbouring_A_prev_is_layer_shifted() -> None:
    problem, _ = _case(SQUARE)
    A2 = forward(problem.params, problem.X, SQUARE.activations)[1][1]
    grads = _student_backward(problem, A_prev=lambda l: A2 if l == 2 else None)
    found = _named(SQUARE, grads)
    assert set(found) == {(2, "W")}
    assert (found[(2, "W")].pattern, found[(2, "W")].text) == (
        "layer-shifted",
        "dW2 uses A2 instead of A1",
    )


@pytest.mark.parametrize("bug", ["W of the layer above", "Z of the layer below"])
def test_a_neighbouring_layers_W_or_Z_is_layer_shifted(bug: str) -> None:
    problem, _ = _case(SQUARE)
    W3 = problem.params[2][0]
    Z1 = forward(problem.params, problem.X, SQUARE.activations)[0][0]
    sigmoid_prime = _STUDENT_G_PRIME["sigmoid"]
    if bug.startswith("W"):  # dJ_dA^(1) = W3^T dJ_dZ^(2): a layer too far up
        grads = _student_backward(problem, backward_W=lambda l: W3 if l == 2 else None)
        text, layer = "backward sum into layer 1 uses W3 instead of W2", 1
    else:  # g'_2 evaluated at Z1: the cache read one layer too low
        grads = _student_backward(
            problem, g_prime=lambda l, Z, A: sigmoid_prime(Z1) if l == 2 else None
        )
        text, layer = "g' of layer 2 evaluated at Z1 instead of Z2", 2
    found = _named(SQUARE, grads)
    assert set(found) == {(l, t) for l in range(1, layer + 1) for t in "Wb"}
    assert {(d.pattern, d.layer, d.text) for d in found.values()} == {
        ("layer-shifted", layer, text)
    }


# --- every meta bug, and speed -------------------------------------------------------------------

#: What each meta bug is called where it shows (None: no known pattern, by design).
META = {
    "transposed_dW": ("transposed", GENERIC),
    "missing_1_over_m": ("scaled", BCE),
    "sigmoid_prime_is_sigmoid": ("wrong-activation-derivative", SQUARE),
    "bias_mean_over_samples": ("scaled", BCE),
    "backward_sum_uses_own_W": ("layer-shifted", SQUARE),
    "g_prime_of_A": ("derivative-at-activation", GENERIC),
    "output_delta_sign_flipped": ("sign-flipped", GENERIC),
    "mse_with_half_convention": ("scaled", GENERIC),
    "first_layer_skipped": (None, BCE),  # an all-zero layer
    "bias_dropped_in_forward": (None, GENERIC),  # every value moves differently
}
FACTORS = {
    "missing_1_over_m": BATCH,
    "bias_mean_over_samples": 1 / BATCH,
    "mse_with_half_convention": 0.5,
}


def test_the_expectations_name_meta_bugs_that_exist() -> None:
    # A subset, not equality: a bug added to the corpus later is not diagnose's to block.
    assert set(META) <= set(WRONG_BACKPROPS)


@pytest.mark.parametrize("name", sorted(META))
def test_each_meta_bug_gets_its_diagnosis_on_every_tensor_it_touches(name: str) -> None:
    pattern, spec = META[name]
    bug = WRONG_BACKPROPS[name]
    assert bug.visible_on(spec)
    wrong, found = _diagnosed(spec, _run(spec, bug.backward))
    assert wrong == bug.affected(spec)
    if pattern is None:
        assert found == {}
        return
    assert set(found) == bug.affected(spec), f"not named: {bug.affected(spec) - set(found)}"
    assert {d.pattern for d in found.values()} == {pattern}
    if name in FACTORS:
        assert all(d.factor == pytest.approx(FACTORS[name]) for d in found.values())


def test_a_wide_problem_with_nothing_to_name_is_diagnosed_in_milliseconds() -> None:
    spec = NetworkSpec((16, 32, 32, 8), ("tanh", "relu", "sigmoid"), "bce")
    problem = Problem.random(spec, 32, SEED)
    sources = evaluate_sources(problem)
    rng = np.random.default_rng(2)
    noisy = [
        (
            dW + 0.1 * np.std(dW) * rng.standard_normal(dW.shape),
            db + 0.1 * np.std(db) * rng.standard_normal(db.shape),
        )
        for dW, db in sources.grads["symbolic"]
    ]
    every = [(l, t) for l in (1, 2, 3) for t in "Wb"]
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        assert diagnose(problem, noisy, sources, every) == {}
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 0.05, f"diagnose took {min(seconds) * 1e3:.0f} ms on {spec!r}"


# --- the conventions of issue 11: factors that are declarations, l2, new derivatives -------------

#: n_L = 3, m = BATCH = 5: 2, m, n_L and m·n_L differ.
CE_L2 = NetworkSpec((4, 5, 3), ("tanh", "softmax"), Loss("cross_entropy"), l2=1e-3)
HALF_L2 = NetworkSpec((3, 5, 3), ("silu", "identity"), Loss("mse", half=True), l2=1e-3)
SUM = NetworkSpec((3, 4, 3), ("gelu", "sigmoid"), Loss("mse", reduction="sum"))
ELEMENTWISE = NetworkSpec(
    (3, 4, 4, 3), ("leaky_relu(0.2)", "elu", "identity"), Loss("mse", reduction="elementwise_mean")
)
SOFTMAX_MSE = NetworkSpec((3, 4, 3), ("softplus", "softmax"), "mse")
CONVENTION_SPECS = (CE_L2, HALF_L2, SUM, ELEMENTWISE, SOFTMAX_MSE)


def _spec_id(spec: NetworkSpec) -> str:
    return f"{'-'.join(spec.activations)}_{spec.loss!s}_l2={spec.l2:g}"


def _decay(spec: NetworkSpec, c: float) -> Grads:
    """The truth plus c·W in every dW."""
    problem, _ = _case(spec)
    return [(dW + c * W, db) for (dW, db), (W, _) in zip(_truth(spec), problem.params)]


@pytest.mark.parametrize("spec", CONVENTION_SPECS, ids=_spec_id)
def test_the_reference_gets_no_diagnosis_in_any_convention(spec: NetworkSpec) -> None:
    problem, sources = _case(spec)
    grads = reference.backward(
        list(problem.params), problem.X, problem.Y, spec.activations, spec.loss.name,
        half=spec.loss.half, reduction=spec.loss.reduction, l2=spec.l2,
    )  # fmt: skip
    assert all(r.status == "ok" for r in compare(problem, grads, sources))
    every = [(l, t) for l in range(1, spec.depth + 1) for t in "Wb"]
    assert diagnose(problem, grads, sources, every) == {}


@pytest.mark.parametrize("spec", CONVENTION_SPECS, ids=_spec_id)
@pytest.mark.parametrize("relative", [1e-3, 0.1])
def test_random_perturbation_is_no_known_pattern_in_any_convention(
    spec: NetworkSpec, relative: float
) -> None:
    rng = np.random.default_rng(3)
    noisy = [
        (
            dW * (1 + relative * rng.standard_normal(dW.shape)),
            db * (1 + relative * rng.standard_normal(db.shape)),
        )
        for dW, db in _truth(spec)
    ]
    assert _diagnosed(spec, noisy)[1] == {}


@pytest.mark.parametrize(
    ("spec", "factor", "text"),
    [
        (SUM, 0.5, "scaled by 1/2: a ½·MSE convention? declare Loss('mse', half=True, "
                   "reduction='sum')"),
        (SUM, 1 / BATCH, "scaled by 1/m = 0.2: a mean over samples? declare Loss('mse')"),
        (SUM, 1 / (3 * BATCH), "scaled by 1/(m·n_L) = 0.0666667: a mean over every output "
                               "entry (torch's default)? declare Loss('mse', "
                               "reduction='elementwise_mean')"),
        (ELEMENTWISE, 3.0, "scaled by n_L = 3: a mean over samples? declare Loss('mse')"),
        (ELEMENTWISE, 1.5, "scaled by n_L/2 = 1.5: a ½·MSE convention and a mean over samples? "
                           "declare Loss('mse', half=True)"),
        (ELEMENTWISE, float(BATCH), "scaled by m = 5"),  # a missing 1/m: no sum is proposed
        (HALF_L2, 2.0, "loss term scaled by 2 (l2·W right): mse without the ½? declare "
                       "Loss('mse')"),
    ],
)  # fmt: skip
def test_a_factor_between_two_conventions_says_which_to_declare(
    spec: NetworkSpec, factor: float, text: str
) -> None:
    problem, _ = _case(spec)
    grads = [
        (factor * (dW - spec.l2 * W) + spec.l2 * W, factor * db)
        for (dW, db), (W, _) in zip(_truth(spec), problem.params)
    ]
    found = _named(spec, grads)
    assert {d.pattern for d in found.values()} == {"scaled"}
    assert all(d.factor == pytest.approx(factor, rel=1e-12) for d in found.values())
    weights = {d.text for (l, t), d in found.items() if t == "W"}
    biases = {d.text for (l, t), d in found.items() if t == "b"}
    assert weights == {text}
    assert biases == {text.replace("loss term ", "").replace(" (l2·W right)", "")}


def test_a_whole_dW_scaled_with_its_l2_term_is_scaled_without_a_convention() -> None:
    grads = [(2.0 * dW, 2.0 * db) for dW, db in _truth(HALF_L2)]
    found = _named(HALF_L2, grads)
    assert {(t, d.text) for (l, t), d in found.items()} == {
        ("W", "scaled by 2"),  # l2·W doubled too: no loss convention does that
        ("b", "scaled by 2: mse without the ½? declare Loss('mse')"),
    }


@pytest.mark.parametrize("spec", [CE_L2, HALF_L2], ids=_spec_id)
@pytest.mark.parametrize(
    ("c", "pattern", "text"),
    [
        (-1.0, "l2-missing", "the L2 term l2·W is missing (l2 = 0.001)"),
        (-0.5, "l2-halved", "L2 gradient written as ½·l2·W: the ½ of (l2/2)·‖W‖² kept, d/dW is "
                            "l2·W (l2 = 0.001)"),
        (2.0, "l2-mismatch", "dW carries a weight-decay term 0.003·W, but l2 = 0.001 is declared: "
                             "declare NetworkSpec(..., l2=0.003)?"),
    ],
)  # fmt: skip
def test_a_wrong_l2_term_is_named(spec: NetworkSpec, c: float, pattern: str, text: str) -> None:
    found = _named(spec, _decay(spec, c * spec.l2))
    assert set(found) == {(l, "W") for l in range(1, spec.depth + 1)}
    assert {(d.pattern, d.text) for d in found.values()} == {(pattern, text)}
    assert all(d.factor == pytest.approx(spec.l2 * (1 + c)) for d in found.values())


def test_weight_decay_left_in_without_l2_is_named_with_its_lambda() -> None:
    from meta.einsum_style import l2_penalty_left_in  # λ = 1e-2, J has no penalty

    found = _named(GENERIC, _run(GENERIC, l2_penalty_left_in))
    assert set(found) == {(1, "W"), (2, "W"), (3, "W")}
    assert {(d.pattern, d.text) for d in found.values()} == {
        (
            "l2-mismatch",
            "dW carries a weight-decay term 0.01·W, but l2 = 0 is declared: "
            "declare NetworkSpec(..., l2=0.01)?",
        )
    }


def test_no_l2_name_where_the_loss_term_vanishes() -> None:
    # Targets equal to the outputs: the loss term of every gradient is exactly 0, the truth is
    # l2·W, and a candidate of zeros is "l2 missing" as much as "returns zero": no name.
    spec = NetworkSpec((3, 4, 3), ("tanh", "identity"), "mse", l2=1e-2)
    random = Problem.random(spec, BATCH, SEED)
    outputs = forward(random.params, random.X, spec.activations)[-1][1]
    problem = Problem(spec, random.params, random.X, outputs)
    sources = evaluate_sources(problem)
    zeros = [(np.zeros_like(W), np.zeros_like(b)) for W, b in problem.params]
    wrong = [(r.layer, r.param) for r in compare(problem, zeros, sources) if r.status == "mismatch"]
    assert set(wrong) == {(1, "W"), (2, "W")}
    assert diagnose(problem, zeros, sources, wrong) == {}  # type: ignore[arg-type]


def _student_conventions(problem: Problem, g_prime: Callable[[str, Array], Array]) -> Grads:
    """Seed 001's backprop for an elementwise output layer and any Loss and l2, with the
    activations' g' supplied by the caller."""
    spec, X, Y, m = problem.spec, problem.X, problem.Y, problem.batch
    cache_ = forward(problem.params, X, spec.activations)
    dJ_dA = 2.0 * (cache_[-1][1] - Y) / spec.divisor(m)
    grads: Grads = []
    for l in range(spec.depth, 0, -1):
        W = problem.params[l - 1][0]
        Z, _ = cache_[l - 1]
        dJ_dZ = dJ_dA * g_prime(spec.activations[l - 1], Z)
        A_prev = X if l == 1 else cache_[l - 2][1]
        grads.append((dJ_dZ @ A_prev.T + spec.l2 * W, dJ_dZ.sum(axis=1)))
        dJ_dA = W.T @ dJ_dZ
    return grads[::-1]


def _phi(Z: Array) -> Array:
    return np.exp(-0.5 * Z**2) / np.sqrt(2 * np.pi)


_Phi = np.vectorize(lambda z: 0.5 * math.erfc(-z / math.sqrt(2)), otypes=[np.float64])
_sigma = np.vectorize(lambda z: 1 / (1 + math.exp(-z)), otypes=[np.float64])

#: Each activation's right g', and a wrong one with the text diagnose must give it.
_RIGHT: dict[str, Callable[[Array], Array]] = {
    "gelu": lambda Z: _Phi(Z) + Z * _phi(Z),
    "silu": lambda Z: _sigma(Z) * (1 + Z * (1 - _sigma(Z))),
    "elu": lambda Z: np.where(Z > 0, 1.0, np.exp(np.minimum(Z, 0))),
    "leaky_relu(0.2)": lambda Z: np.where(Z > 0, 1.0, 0.2),
    "tanh": lambda Z: 1 - np.tanh(Z) ** 2,
    "sigmoid": lambda Z: _sigma(Z) * (1 - _sigma(Z)),
    "identity": np.ones_like,
}
_WRONG: dict[str, tuple[Callable[[Array], Array], str]] = {
    "gelu": (_Phi, "gelu' written as Φ(z), missing z·φ(z)"),
    "silu": (_sigma, "silu' written as σ(z), missing z·σ(z)(1 - σ(z))"),
    "elu": (
        lambda Z: np.where(Z > 0, 1.0, np.expm1(np.minimum(Z, 0))),
        "elu' written as e^z - 1 for z <= 0 (elu itself, missing + 1)",
    ),
    "leaky_relu(0.2)": (
        lambda Z: np.where(Z > 0, 1.0, 0.1),
        "leaky_relu(0.2)' written as slope 0.1 for z <= 0 (the forward pass uses 0.2)",
    ),
}


@pytest.mark.parametrize(
    ("spec", "layer"),
    [(SUM, 1), (HALF_L2, 1), (ELEMENTWISE, 1), (ELEMENTWISE, 2)],
    ids=["gelu-sum", "silu-half-l2", "leaky_relu(0.2)", "elu"],
)
def test_a_mistyped_new_derivative_is_named(spec: NetworkSpec, layer: int) -> None:
    problem, _ = _case(spec)
    name = spec.activations[layer - 1]
    wrong_g_prime, text = _WRONG[name]
    grads = _student_conventions(
        problem, lambda a, Z: wrong_g_prime(Z) if a == name else _RIGHT[a](Z)
    )
    found = _named(spec, grads)
    assert set(found) == {(l, t) for l in range(1, layer + 1) for t in "Wb"}
    for d in found.values():
        assert (d.pattern, d.layer, d.text) == (
            "wrong-activation-derivative",
            layer,
            f"{text} at layer {layer}",
        )


def test_the_softmax_jacobian_taken_as_its_diagonal_is_named() -> None:
    problem, _ = _case(SOFTMAX_MSE)
    cache_ = forward(problem.params, problem.X, SOFTMAX_MSE.activations)
    (Z1, A1), (_, A2) = cache_
    W2 = problem.params[1][0]
    dJ_dZ2 = 2.0 * (A2 - problem.Y) / BATCH * A2 * (1 - A2)  # diag(a(1 - a)) for the Jacobian
    dJ_dZ1 = (W2.T @ dJ_dZ2) * _sigma(Z1)
    grads = [(dJ_dZ1 @ problem.X.T, dJ_dZ1.sum(axis=1)), (dJ_dZ2 @ A1.T, dJ_dZ2.sum(axis=1))]
    found = _named(SOFTMAX_MSE, grads)
    assert {(d.pattern, d.layer, d.text) for d in found.values()} == {
        (
            "wrong-activation-derivative",
            2,
            "softmax' written as the diagonal a(1 - a) of its Jacobian at layer 2",
        )
    }


def test_an_unknown_activation_or_loss_raises_in_diagnose() -> None:
    from harness.diagnose.chain import Chain
    from harness.diagnose.derivatives import g_prime

    with pytest.raises(ValueError, match="no elementwise derivative for activation 'swish'"):
        g_prime("swish")
    with pytest.raises(ValueError, match="no elementwise derivative for activation 'softmax'"):
        g_prime("softmax")
    problem, _ = _case(GENERIC)
    chain = Chain(problem)
    with pytest.raises(ValueError, match="no derivative for loss 'nll'"):
        chain._output("nll", chain.A[3], problem.Y, 1.0)
