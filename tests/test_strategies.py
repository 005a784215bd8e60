"""`harness.strategies`: drawn specs and problems respect their bounds, reach every corner the
gradient sources must survive, shrink to the smallest readable network, and replay from repr()."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar, cast

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.errors import (
    HarnessError,
    ProblemError,
    SpecError,
    UnknownActivationError,
    UnknownLossError,
)
from harness.network import ACTIVATIONS, forward, is_kinked
from harness.spec import Loss, NetworkSpec, Problem, as_loss
from harness.strategies import (
    ALL_ACTIVATIONS,
    LOSS_CONVENTIONS,
    SEED_ACTIVATIONS,
    SEED_LOSSES,
    network_specs,
    problems,
)

#: Every activation and loss convention (the default draws the seeds' conventions only).
EVERYTHING = network_specs(activations=ALL_ACTIVATIONS, losses=LOSS_CONVENTIONS, l2s=(0.0, 1e-3))

T = TypeVar("T")

# No example database, the same examples on every run. find() needs no explain phase (it only
# annotates printed failures, and costs most of the time); @given keeps it for the print test.
FIXED = settings(database=None, derandomize=True, deadline=None)
FIND = settings(FIXED, max_examples=1000, phases=(Phase.generate, Phase.shrink))
QUICK = settings(FIXED, max_examples=60)


def _find(strategy: SearchStrategy[T], condition: Callable[[T], bool]) -> T:
    return find(strategy, condition, settings=FIND)


# --- bounds -----------------------------------------------------------------------------------

BOUNDS: list[dict[str, Any]] = [
    {},
    {"min_depth": 2, "max_depth": 3, "min_width": 3, "max_width": 5},
    {"min_depth": 1, "max_depth": 1, "min_width": 1, "max_width": 1},
    {"activations": ("relu", "leaky_relu"), "losses": ("mse",)},
    {"activations": ("tanh",), "losses": ("bce",)},
    {"activations": ("softplus",), "output_activations": ("identity", "sigmoid")},
]


@pytest.mark.parametrize("bounds", BOUNDS, ids=[repr(b) for b in BOUNDS])
def test_drawn_specs_respect_every_bound(bounds: dict[str, Any]) -> None:
    min_depth, max_depth = bounds.get("min_depth", 1), bounds.get("max_depth", 4)
    min_width, max_width = bounds.get("min_width", 1), bounds.get("max_width", 16)
    layer_choices = set(bounds.get("activations", SEED_ACTIVATIONS)) - {"softmax"}
    output_choices = set(bounds.get("output_activations", layer_choices))
    output_choices |= {"sigmoid", "softmax"}  # the outputs bce and cross_entropy fix
    loss_choices = {as_loss(x) for x in bounds.get("losses", SEED_LOSSES)}

    @QUICK
    @given(network_specs(**bounds))
    def check(spec: NetworkSpec) -> None:
        assert min_depth <= spec.depth <= max_depth
        assert all(min_width <= n <= max_width for n in spec.sizes), spec
        assert set(spec.activations[:-1]) <= layer_choices, spec
        assert spec.activations[-1] in output_choices, spec
        assert spec.loss in loss_choices, spec

    check()


@QUICK
@given(network_specs(activations=("tanh", "relu")))
def test_bce_always_has_a_sigmoid_output_even_if_activations_omit_it(spec: NetworkSpec) -> None:
    assert spec.loss.name != "bce" or spec.activations[-1] == "sigmoid"
    assert spec.loss.name != "cross_entropy" or spec.activations[-1] == "softmax"
    assert set(spec.activations[:-1]) <= {"tanh", "relu"}


@QUICK
@given(network_specs(output_activations=("identity", "tanh")))
def test_output_activations_without_sigmoid_rule_out_bce(spec: NetworkSpec) -> None:
    assert spec.loss.name == "mse"
    assert spec.activations[-1] in {"identity", "tanh"}


@QUICK
@given(problems(network_specs(activations=("relu", "leaky_relu"), max_depth=3)))
def test_relu_type_problems_stay_off_the_kinks(problem: Problem) -> None:
    assert problem.kink_margin == 1e-3  # Problem.random's default, kept
    layers = forward(problem.params, problem.X, problem.spec.activations)
    for (Z, _), name in zip(layers, problem.spec.activations):
        if is_kinked(name):
            assert np.min(np.abs(Z)) >= 1e-3 * (1 - 1e-9), (problem, name)


@QUICK
@given(problems())
def test_problems_replay_exactly_from_their_repr(problem: Problem) -> None:
    again = eval(repr(problem), {"Problem": Problem, "NetworkSpec": NetworkSpec, "Loss": Loss})
    assert repr(again) == repr(problem)
    for (W, b), (W_again, b_again) in zip(problem.params, again.params):
        np.testing.assert_array_equal(W_again, W)
        np.testing.assert_array_equal(b_again, b)
    np.testing.assert_array_equal(again.X, problem.X)
    np.testing.assert_array_equal(again.Y, problem.Y)


# --- coverage: every corner can be drawn --------------------------------------------------------


def _saturates_a_sigmoid(problem: Problem) -> bool:
    """Some sigmoid unit has |z| > 10, where σ'(z) < 5e-5."""
    layers = forward(problem.params, problem.X, problem.spec.activations)
    return any(
        name == "sigmoid" and float(np.max(np.abs(Z))) > 10.0
        for (Z, _), name in zip(layers, problem.spec.activations)
    )


REACHABLE: list[Any] = [
    pytest.param(network_specs(), lambda s: s.depth == 1, id="depth-1"),
    pytest.param(network_specs(), lambda s: s.depth == 4, id="max-depth"),
    pytest.param(network_specs(), lambda s: s.depth >= 2 and s.sizes[1] == 1, id="hidden-width-1"),
    pytest.param(network_specs(), lambda s: max(s.sizes) == 16, id="max-width"),
    pytest.param(
        network_specs(),
        lambda s: s.depth >= 2 and set(s.activations) == {"identity"},
        id="identity-layers",
    ),
    pytest.param(problems(), lambda p: p.batch == 1, id="batch-1"),
    pytest.param(problems(), lambda p: p.batch == 16, id="max-batch"),
    pytest.param(problems(), lambda p: p.weight_scale == 10.0, id="weight-scale-10"),
    pytest.param(
        problems(network_specs(activations=("sigmoid",))),
        lambda p: p.weight_scale == 10.0 and _saturates_a_sigmoid(p),
        id="saturated-sigmoid",
    ),
    pytest.param(problems(), lambda p: p.seed > 2**31, id="large-seed"),
    *[
        pytest.param(
            EVERYTHING,
            lambda s, name=name: s.depth >= 2 and s.activations[0] == name,
            id=f"hidden-{name}",
        )
        for name in ALL_ACTIVATIONS
        if name != "softmax"  # output layer only
    ],
    *[
        pytest.param(EVERYTHING, lambda s, name=name: s.activations[-1] == name, id=f"out-{name}")
        for name in ALL_ACTIVATIONS
    ],
    *[
        pytest.param(EVERYTHING, lambda s, loss=loss: s.loss == loss, id=f"loss-{loss!r}")
        for loss in LOSS_CONVENTIONS
    ],
    pytest.param(EVERYTHING, lambda s: s.l2 == 1e-3, id="l2"),
    *[
        pytest.param(network_specs(), lambda s, name=name: s.activations[-1] == name,
                     id=f"seed-out-{name}")
        for name in SEED_ACTIVATIONS
    ],
    *[
        pytest.param(network_specs(), lambda s, loss=loss: s.loss == loss, id=f"seed-loss-{loss}")
        for loss in ("mse", "bce")
    ],
]  # fmt: skip


def test_the_default_draws_the_seeds_conventions_only() -> None:
    @QUICK
    @given(network_specs())
    def check(spec: NetworkSpec) -> None:
        assert set(spec.activations) <= set(SEED_ACTIVATIONS)
        assert spec.loss in SEED_LOSSES and spec.l2 == 0.0

    check()


@pytest.mark.parametrize(("strategy", "condition"), REACHABLE)
def test_find_reaches(strategy: SearchStrategy[Any], condition: Callable[[Any], bool]) -> None:
    assert condition(_find(strategy, condition))


# --- shrinking: toward the smallest, most readable network --------------------------------------


def test_depth_shrinks_to_the_bound_with_every_width_minimal() -> None:
    spec = _find(network_specs(), lambda s: s.depth >= 3)
    assert spec == NetworkSpec((1, 1, 1, 1), ("identity",) * 3, "mse")


def test_widths_shrink_to_min_width() -> None:
    spec = _find(network_specs(min_width=2, max_width=9), lambda s: s.depth >= 2)
    assert spec.sizes == (2, 2, 2)


def test_one_wide_layer_leaves_the_others_minimal() -> None:
    spec = _find(network_specs(), lambda s: s.depth >= 2 and s.sizes[1] >= 5)
    assert spec.sizes == (1, 5, 1)


def test_batch_shrinks_to_the_bound() -> None:
    problem = _find(problems(), lambda p: p.batch >= 4)
    assert problem.batch == 4
    assert problem.spec == NetworkSpec((1, 1), ("identity",), "mse")


def test_the_smallest_problem_is_one_identity_unit_one_sample_seed_0() -> None:
    problem = _find(problems(), lambda p: True)
    assert repr(problem) == (
        "Problem.random(NetworkSpec(sizes=(1, 1), activations=('identity',), loss='mse'), "
        "batch=1, seed=0, weight_scale=1.0)"
    )


def test_weight_scale_shrinks_to_the_first_given() -> None:
    assert _find(problems(weight_scales=(3.0, 10.0)), lambda p: True).weight_scale == 3.0
    assert _find(problems(), lambda p: p.weight_scale != 1.0).weight_scale == 0.1


@pytest.mark.parametrize(
    ("activations", "simplest"),
    [
        (ACTIVATIONS, "identity"),
        (("softplus", "relu", "tanh"), "tanh"),  # the order given does not matter
        (("leaky_relu", "sigmoid"), "sigmoid"),
    ],
)
def test_activations_shrink_to_the_simplest_allowed(
    activations: tuple[str, ...], simplest: str
) -> None:
    spec = _find(network_specs(activations=activations), lambda s: s.depth >= 2)
    assert spec.activations == (simplest, simplest)


def test_a_bce_failure_shrinks_to_one_sigmoid_unit() -> None:
    spec = _find(network_specs(), lambda s: s.loss.name == "bce")
    assert spec == NetworkSpec((1, 1), ("sigmoid",), "bce")


def test_the_falsifying_example_is_a_copy_pasteable_constructor_call() -> None:
    @settings(FIXED, max_examples=50)
    @given(problems())
    def needs_small_batches(problem: Problem) -> None:
        assert problem.batch < 2

    with pytest.raises(AssertionError) as raised:
        needs_small_batches()
    notes = "\n".join(getattr(raised.value, "__notes__", []))
    assert "array(" not in notes  # never whole matrices
    call = notes.split("problem=", 1)[1].rsplit("\n)", 1)[0]  # up to the test's closing paren
    call = re.sub(r"#[^\n]*", "", call).strip().rstrip(",")  # drop Hypothesis' comments
    assert call.startswith("Problem.random(")
    replayed = eval(call, {"Problem": Problem, "NetworkSpec": NetworkSpec, "Loss": Loss})
    assert replayed.batch == 2
    assert replayed.spec == NetworkSpec((1, 1), ("identity",), "mse")


# --- bad arguments: a typed error at construction, naming the argument -------------------------


def _case(
    make: Callable[[], object], error: type[HarnessError], *fragments: str, id: str
) -> object:
    return pytest.param(make, error, fragments, id=id)


BAD: list[Any] = [
    _case(lambda: network_specs(min_depth=0), SpecError, "min_depth=0", id="depth-0"),
    _case(lambda: network_specs(max_depth=-1), SpecError, "max_depth=-1", id="depth-negative"),
    _case(lambda: network_specs(min_depth=True), SpecError, "min_depth=True", id="depth-bool"),
    _case(
        lambda: network_specs(max_depth=cast(Any, 2.5)),
        SpecError,
        "max_depth=2.5",
        id="depth-float",
    ),
    _case(
        lambda: network_specs(min_depth=3, max_depth=2),
        SpecError,
        "min_depth=3 > max_depth=2",
        id="depth-empty",
    ),
    _case(lambda: network_specs(min_width=0), SpecError, "min_width=0", id="width-0"),
    _case(
        lambda: network_specs(min_width=5, max_width=4),
        SpecError,
        "min_width=5 > max_width=4",
        id="width-empty",
    ),
    _case(
        lambda: network_specs(activations=("tahn",)),
        UnknownActivationError,
        "'tahn'",
        "did you mean 'tanh'?",
        id="activation-typo",
    ),
    _case(
        lambda: network_specs(output_activations=("sigmoid", "reul")),
        UnknownActivationError,
        "output_activations",
        "did you mean 'relu'?",
        id="output-activation-typo",
    ),
    _case(
        lambda: network_specs(activations="tanh"),
        SpecError,
        "single string",
        "activations=('tanh',)",
        id="activations-str",
    ),
    _case(lambda: network_specs(activations=()), SpecError, "non-empty", id="activations-empty"),
    _case(
        lambda: network_specs(losses=("binary_crossentropy",)),
        UnknownLossError,
        "did you mean 'bce'?",
        id="loss-alias",
    ),
    _case(
        lambda: network_specs(losses=("msee",)),
        UnknownLossError,
        "did you mean 'mse'?",
        id="loss-typo",
    ),
    _case(lambda: network_specs(losses="mse"), SpecError, "losses=('mse',)", id="losses-str"),
    _case(lambda: network_specs(losses=[]), SpecError, "non-empty", id="losses-empty"),
    _case(
        lambda: network_specs(losses=("bce",), output_activations=("tanh", "identity")),
        SpecError,
        "need a sigmoid output layer",
        "add 'sigmoid' to output_activations",
        id="bce-without-sigmoid-output",
    ),
    _case(
        lambda: problems(cast(Any, "tanh")),
        ProblemError,
        "specs must be a strategy",
        id="specs-str",
    ),
    _case(lambda: problems(min_batch=0), ProblemError, "min_batch=0", id="batch-0"),
    _case(
        lambda: problems(min_batch=5, max_batch=2),
        ProblemError,
        "min_batch=5 > max_batch=2",
        id="batch-empty",
    ),
    _case(
        lambda: problems(weight_scales=cast(Any, 10.0)),
        ProblemError,
        "single number",
        "weight_scales=(10.0,)",
        id="scales-number",
    ),
    _case(lambda: problems(weight_scales=()), ProblemError, "non-empty", id="scales-empty"),
    *[
        _case(
            partial(problems, weight_scales=(1.0, scale)),
            ProblemError,
            f"weight_scales[1] = {scale!r}",
            "positive finite",
            id=f"scale-{scale!r}",
        )
        for scale in (0.0, -1.0, math.inf, math.nan, True)
    ],
    _case(
        lambda: problems(seeds=cast(Any, 7)),
        ProblemError,
        "seeds must be a strategy",
        id="seeds-int",
    ),
]


@pytest.mark.parametrize(("make", "error", "fragments"), BAD)
def test_bad_arguments_raise_at_construction(
    make: Callable[[], object], error: type[HarnessError], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(error) as raised:
        make()
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_a_fixed_spec_is_accepted_and_kept() -> None:
    spec = NetworkSpec((3, 4, 1), ("relu", "sigmoid"), "bce")
    problem = _find(problems(spec, min_batch=2, seeds=st.just(7)), lambda p: True)
    assert (problem.spec, problem.batch, problem.seed) == (spec, 2, 7)


def test_a_half_mse_failure_shrinks_to_the_seed_sized_net_keeping_the_convention() -> None:
    spec = _find(EVERYTHING, lambda s: s.loss.half)
    assert spec == NetworkSpec((1, 1), ("identity",), Loss("mse", half=True))


def test_a_cross_entropy_failure_shrinks_to_one_softmax_layer() -> None:
    spec = _find(EVERYTHING, lambda s: s.loss.name == "cross_entropy")
    assert spec == NetworkSpec((1, 1), ("softmax",), "cross_entropy")


def test_softmax_is_never_drawn_on_a_hidden_layer() -> None:
    @QUICK
    @given(network_specs(activations=("softmax", "tanh"), min_depth=2))
    def check(spec: NetworkSpec) -> None:
        assert "softmax" not in spec.activations[:-1]

    check()


def test_fixed_sizes_and_depths_are_the_only_ones_drawn() -> None:
    @QUICK
    @given(network_specs(sizes=[(3, 4, 2), (2, 2)]), network_specs(depths=[2, 4]))
    def check(fixed: NetworkSpec, deep: NetworkSpec) -> None:
        assert fixed.sizes in {(3, 4, 2), (2, 2)}
        assert deep.depth in {2, 4}

    check()
