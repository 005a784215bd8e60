"""Hypothesis strategies for network specs and problems, for your own ``@given`` tests.

>>> from hypothesis import given
>>> from harness.strategies import network_specs, problems
>>> @given(problems(network_specs(max_depth=3, activations=("tanh", "relu"))))
... def test_my_backprop(problem):
...     grads = my_backward(problem.params, problem.X, problem.Y,
...                         problem.spec.activations, problem.spec.loss.name)
...     ...

Every argument is checked when the strategy is built, and a bad one raises a typed
`harness.errors.HarnessError` (`SpecError` for architecture bounds, `ProblemError` for batch,
weight scales and seeds) before Hypothesis draws anything.

Shrinking goes to the smallest, most readable network that still fails: depth toward
``min_depth``, every width toward ``min_width``, activations toward ``identity`` (then ``tanh``,
``sigmoid``, ...), the loss toward ``Loss('mse')`` (no ½, mean), l2 toward the first of ``l2s``
(0 by default), the batch toward ``min_batch``, the weight scale toward the first of
``weight_scales`` and the seed toward 0. With the defaults the smallest problem is
``Problem.random(NetworkSpec(sizes=(1, 1), activations=('identity',), loss='mse'), batch=1,
seed=0, weight_scale=1.0)``.

Problems are made only by `Problem.random`, so the falsifying example Hypothesis prints,
``problem=Problem.random(...)``, is a constructor call that rebuilds the same arrays exactly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from harness.errors import ProblemError, SpecError, UnknownActivationError
from harness.network import (
    ACTIVATIONS,
    LOSSES,
    OUTPUT_ONLY_ACTIVATIONS,
    REDUCTIONS,
    parse_activation,
)
from harness.spec import (
    Loss,
    NetworkSpec,
    Problem,
    _suggest_activation,
    _validate_l2,
    as_loss,
)

__all__ = [
    "ALL_ACTIVATIONS",
    "LOSS_CONVENTIONS",
    "SEED_ACTIVATIONS",
    "SEED_LOSSES",
    "network_specs",
    "problems",
]

#: The six activations of the seed conventions (what a plug-in that declares nothing is audited on).
SEED_ACTIVATIONS: tuple[str, ...] = (
    "sigmoid", "tanh", "relu", "leaky_relu", "identity", "softplus",
)  # fmt: skip
#: Every activation, with two leaky slopes besides the default 0.01 (the ones public code uses).
ALL_ACTIVATIONS: tuple[str, ...] = (*ACTIVATIONS, "leaky_relu(0.2)", "leaky_relu(0.3)")
#: mse and bce with the seeds' convention (no ½, mean over samples).
SEED_LOSSES: tuple[Loss, ...] = (Loss("mse"), Loss("bce"))
#: Every valid loss convention: mse × half × reduction, bce × reduction, cross_entropy × reduction.
LOSS_CONVENTIONS: tuple[Loss, ...] = tuple(
    Loss(name, half=half, reduction=reduction)
    for name in LOSSES
    for half in ((False, True) if name == "mse" else (False,))
    for reduction in REDUCTIONS
)

#: The order sampled_from shrinks along: a minimal failing example is easiest to read on a linear
#: layer, then on smooth squashing ones, then on kinked ones. Names not listed go last.
_SIMPLEST_FIRST = (
    "identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "elu", "silu", "gelu",
)  # fmt: skip


def network_specs(
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    min_width: int = 1,
    max_width: int = 16,
    activations: Sequence[str] = SEED_ACTIVATIONS,
    losses: Sequence[Loss | str] = SEED_LOSSES,
    output_activations: Sequence[str] | None = None,
    l2s: Sequence[float] = (0.0,),
    sizes: Sequence[Sequence[int]] | None = None,
    depths: Sequence[int] | None = None,
) -> SearchStrategy[NetworkSpec]:
    """Strategy for a `NetworkSpec`: depth L in [min_depth, max_depth], every size n0..nL in
    [min_width, max_width], one activation per layer, a loss convention and an l2.

    ``activations`` are the choices for every layer (an output-only one, softmax, is used on the
    output layer only); ``output_activations``, when given, replace them for the output layer L.
    ``losses`` are names (the seeds' convention: no ½, mean) or `harness.Loss` objects. The
    defaults are the seeds' conventions (the six activations of the seeds, mse and bce, no l2):
    what a plug-in that declares nothing supports. Pass ``activations=ALL_ACTIVATIONS,
    losses=LOSS_CONVENTIONS, l2s=(0.0, 1e-3)`` to draw every convention. bce is defined on a
    sigmoid output only and cross_entropy on a softmax output only (DESIGN.md): when
    ``output_activations`` is None the output layer of such a spec is that activation even if
    ``activations`` omits it; when ``output_activations`` is given and
    omits it, that loss is not drawn (and asking for that loss alone is an error). ``l2s`` are the
    L2 weight decays drawn (the first is the one draws shrink to). ``sizes``, when given, are the
    only architectures drawn (the depth and width bounds are then ignored); ``depths``, when
    given, the only depths.

    The order of ``activations`` and ``losses`` does not matter: draws shrink toward ``identity``
    (then tanh, sigmoid, relu, leaky_relu, softplus, elu, silu, gelu) and toward ``Loss('mse')``.

    >>> from hypothesis import given
    >>> @given(network_specs(max_depth=2, activations=("tanh", "relu"), losses=("mse",)))
    ... def test_my_forward(spec):
    ...     assert len(spec.activations) == spec.depth
    """
    min_depth = _positive_int("min_depth", min_depth, SpecError)
    max_depth = _positive_int("max_depth", max_depth, SpecError)
    _ordered("depth", min_depth, max_depth, SpecError)
    min_width = _positive_int("min_width", min_width, SpecError)
    max_width = _positive_int("max_width", max_width, SpecError)
    _ordered("width", min_width, max_width, SpecError)
    all_choices = _activation_names("activations", activations)
    layer_choices = tuple(a for a in all_choices if a not in OUTPUT_ONLY_ACTIVATIONS)
    if not layer_choices and max_depth > 1:
        raise SpecError(
            f"activations={tuple(activations)!r} are output-only; hidden layers need another "
            f"activation (or pass max_depth=1)"
        )
    loss_choices = _losses(losses)
    fixed_sizes = None if sizes is None else _fixed_sizes(sizes)
    depth_choices = None if depths is None else _depth_choices(depths)
    if output_activations is None:
        output_choices = all_choices
    else:
        output_choices = _activation_names("output_activations", output_activations)
        for loss_name, needs in (("bce", "sigmoid"), ("cross_entropy", "softmax")):
            if needs in output_choices or all(x.name != loss_name for x in loss_choices):
                continue
            if all(x.name == loss_name for x in loss_choices):
                raise SpecError(
                    f"losses={tuple(losses)!r} need a {needs} output layer, but "
                    f"output_activations={tuple(output_activations)!r} excludes {needs!r}; "
                    f"add {needs!r} to output_activations or allow losses=('mse',)"
                )
            loss_choices = tuple(x for x in loss_choices if x.name != loss_name)
    return _network_specs(
        fixed_sizes,
        depth_choices,
        min_depth,
        max_depth,
        min_width,
        max_width,
        layer_choices or output_choices,
        output_choices,
        loss_choices,
        _l2_values(l2s),
    )


@st.composite
def _network_specs(
    draw: st.DrawFn,
    fixed_sizes: tuple[tuple[int, ...], ...] | None,
    depth_choices: tuple[int, ...] | None,
    min_depth: int,
    max_depth: int,
    min_width: int,
    max_width: int,
    layer_choices: tuple[str, ...],
    output_choices: tuple[str, ...],
    loss_choices: tuple[Loss, ...],
    l2_choices: tuple[float, ...],
) -> NetworkSpec:
    # Every choice is drawn whatever the loss, so the choice sequence keeps one shape and
    # the shrinker can move the loss without realigning the rest.
    if fixed_sizes is not None:
        sizes = draw(st.sampled_from(fixed_sizes), label="sizes")
        L = len(sizes) - 1
    else:
        depths = (
            st.integers(min_depth, max_depth)
            if depth_choices is None
            else st.sampled_from(depth_choices)
        )
        L = draw(depths, label="depth")
        sizes = tuple(draw(st.integers(min_width, max_width)) for _ in range(L + 1))
    hidden = tuple(draw(st.sampled_from(layer_choices)) for _ in range(L - 1))
    output = draw(st.sampled_from(output_choices))
    loss = draw(st.sampled_from(loss_choices))
    l2 = draw(st.sampled_from(l2_choices))
    if loss.name == "bce":
        output = "sigmoid"
    elif loss.name == "cross_entropy":
        output = "softmax"
    return NetworkSpec(sizes, (*hidden, output), loss, l2=l2)


def problems(
    specs: SearchStrategy[NetworkSpec] | NetworkSpec | None = None,
    *,
    min_batch: int = 1,
    max_batch: int = 16,
    weight_scales: Sequence[float] = (1.0, 0.1, 3.0, 10.0),
    seeds: SearchStrategy[int] | None = None,
) -> SearchStrategy[Problem]:
    """Strategy for a `Problem`, always ``Problem.random(spec, batch, seed, weight_scale)``.

    ``specs`` is a strategy for specs (default `network_specs()`) or one fixed `NetworkSpec`.
    The batch m is in [min_batch, max_batch]; the weight scale is one of ``weight_scales``
    and shrinks toward the first (large scales such as 10 saturate sigmoid and tanh units);
    the seed comes from ``seeds``, by default ``st.integers(0, 2**32 - 1)``, shrinking to 0.
    ReLU-type layers stay off their kinks by `Problem.random`'s default ``kink_margin``.

    >>> from hypothesis import given
    >>> @given(problems(NetworkSpec((3, 4, 1), ("relu", "sigmoid"), "bce"), max_batch=8))
    ... def test_my_backprop_on_one_architecture(problem):
    ...     ...
    """
    if specs is None:
        spec_strategy: SearchStrategy[NetworkSpec] = network_specs()
    elif isinstance(specs, NetworkSpec):
        spec_strategy = st.just(specs)
    elif isinstance(specs, SearchStrategy):
        spec_strategy = specs
    else:
        raise ProblemError(
            f"specs must be a strategy for NetworkSpec (e.g. network_specs(max_depth=2)), "
            f"a NetworkSpec, or None, got {type(specs).__name__}: {specs!r}"
        )
    min_batch = _positive_int("min_batch", min_batch, ProblemError)
    max_batch = _positive_int("max_batch", max_batch, ProblemError)
    _ordered("batch", min_batch, max_batch, ProblemError)
    scales = _weight_scales(weight_scales)
    if seeds is None:
        seeds = st.integers(0, 2**32 - 1)
    elif not isinstance(seeds, SearchStrategy):
        raise ProblemError(
            f"seeds must be a strategy for non-negative ints (e.g. st.integers(0, 99) or "
            f"st.just(7)), got {type(seeds).__name__}: {seeds!r}"
        )
    return st.builds(
        _problem_random,
        spec_strategy,
        batch=st.integers(min_batch, max_batch),
        weight_scale=st.sampled_from(scales),
        seed=seeds,
    )


def _problem_random(spec: NetworkSpec, batch: int, seed: int, weight_scale: float) -> Problem:
    return Problem.random(spec, batch, seed, weight_scale)


# Hypothesis prints a dataclass field by field (whole arrays), ignoring Problem.__repr__, but it
# prints a value made by st.builds as the call that made it, under the target's __name__.
_problem_random.__name__ = _problem_random.__qualname__ = "Problem.random"


# --- validation at the boundary ------------------------------------------------------------


def _positive_int(name: str, value: Any, error: type[SpecError | ProblemError]) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise error(f"{name}={value!r}: must be a positive int")
    return int(value)


def _ordered(what: str, low: int, high: int, error: type[SpecError | ProblemError]) -> None:
    if low > high:
        raise error(
            f"min_{what}={low} > max_{what}={high}: the range of {what}s is empty; "
            f"pass min_{what} <= max_{what}"
        )


def _activation_names(argument: str, names: Any) -> tuple[str, ...]:
    """The distinct names, validated, in the order they should shrink along."""
    if isinstance(names, str):
        raise SpecError(
            f"{argument} must be a sequence of activation names, got the single string "
            f"{names!r}; write {argument}=({names!r},)"
        )
    if not isinstance(names, Sequence) or len(names) == 0:
        raise SpecError(
            f"{argument}={names!r}: must be a non-empty sequence of activation names; "
            f"known: {', '.join(ACTIVATIONS)}"
        )
    canonical = []
    for name in names:
        parsed = parse_activation(name) if isinstance(name, str) else None
        if parsed is None:
            raise UnknownActivationError(
                f"{argument}: unknown activation {name!r}: {_suggest_activation(str(name))}"
            )
        canonical.append(parsed)
    return _simplest_first(canonical)


def _simplest_first(names: Sequence[str]) -> tuple[str, ...]:
    """Distinct names in shrinking order: `_SIMPLEST_FIRST`, then leaky slopes, softmax last."""

    def rank(name: str) -> tuple[int, str]:
        if name in _SIMPLEST_FIRST:
            return (_SIMPLEST_FIRST.index(name), name)
        return (len(_SIMPLEST_FIRST) + (name in OUTPUT_ONLY_ACTIVATIONS), name)

    return tuple(sorted(set(names), key=rank))


def _losses(losses: Any) -> tuple[Loss, ...]:
    """Distinct `Loss` conventions (names are the seeds' convention), simplest first."""
    if isinstance(losses, (str, Loss)):
        raise SpecError(
            f"losses must be a sequence of loss names or harness.Loss objects, got the single "
            f"value {losses!r}; write losses=({losses!r},)"
        )
    if not isinstance(losses, Sequence) or len(losses) == 0:
        raise SpecError(
            f"losses={losses!r}: must be a non-empty sequence of loss names or harness.Loss "
            f"objects; known names: {', '.join(LOSSES)}"
        )
    converted = dict.fromkeys(as_loss(x) for x in losses)

    def rank(loss: Loss) -> tuple[int, int, bool]:
        return (LOSSES.index(loss.name), REDUCTIONS.index(loss.reduction), loss.half)

    return tuple(sorted(converted, key=rank))


def _fixed_sizes(values: Any) -> tuple[tuple[int, ...], ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise SpecError(f"sizes must be a non-empty list of (n0, ..., nL) tuples, got {values!r}")
    return tuple(dict.fromkeys(NetworkSpec(v, ("identity",) * (len(v) - 1)).sizes for v in values))


def _depth_choices(values: Any) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise SpecError(f"depths must be a non-empty list of positive ints, got {values!r}")
    return tuple(sorted({_positive_int("depths[i]", v, SpecError) for v in values}))


def _l2_values(values: Any) -> tuple[float, ...]:
    """The distinct l2 values in the given order (the first is the one draws shrink to)."""
    if isinstance(values, numbers.Real) or not isinstance(values, Sequence) or not values:
        raise SpecError(
            f"l2s must be a non-empty sequence of numbers >= 0, e.g. (0.0, 1e-3), got {values!r}"
        )
    return tuple(dict.fromkeys(_validate_l2(v) for v in values))


def _weight_scales(scales: Any) -> tuple[float, ...]:
    """The distinct scales in the given order: the first is the one draws shrink to."""
    if isinstance(scales, numbers.Real):
        raise ProblemError(
            f"weight_scales must be a sequence of positive numbers, got the single number "
            f"{scales!r}; write weight_scales=({scales!r},)"
        )
    if isinstance(scales, (str, bytes)) or not isinstance(scales, Sequence) or len(scales) == 0:
        raise ProblemError(
            f"weight_scales={scales!r}: must be a non-empty sequence of positive numbers, "
            f"e.g. (1.0, 0.1, 3.0, 10.0)"
        )
    for position, scale in enumerate(scales):
        if (
            isinstance(scale, bool)
            or not isinstance(scale, numbers.Real)
            or not 0 < float(scale) < math.inf
        ):
            raise ProblemError(
                f"weight_scales[{position}] = {scale!r}: every weight scale must be a positive "
                f"finite number, got weight_scales={tuple(scales)!r}"
            )
    return tuple(dict.fromkeys(float(scale) for scale in scales))
