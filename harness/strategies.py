"""Hypothesis strategies for network specs and problems, for your own ``@given`` tests.

>>> from hypothesis import given
>>> from harness.strategies import network_specs, problems
>>> @given(problems(network_specs(max_depth=3, activations=("tanh", "relu"))))
... def test_my_backprop(problem):
...     grads = my_backward(problem.params, problem.X, problem.Y,
...                         problem.spec.activations, problem.spec.loss)
...     ...

Every argument is checked when the strategy is built, and a bad one raises a typed
`harness.errors.HarnessError` (`SpecError` for architecture bounds, `ProblemError` for batch,
weight scales and seeds) before Hypothesis draws anything.

Shrinking goes to the smallest, most readable network that still fails: depth toward
``min_depth``, every width toward ``min_width``, activations toward ``identity`` (then ``tanh``,
``sigmoid``, ...), the loss toward ``mse``, the batch toward ``min_batch``, the weight scale toward
the first of ``weight_scales`` and the seed toward 0. With the defaults the smallest problem is
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

from harness.errors import ProblemError, SpecError, UnknownActivationError, UnknownLossError
from harness.network import ACTIVATIONS, LOSSES
from harness.spec import NetworkSpec, Problem, _suggest, _suggest_loss

__all__ = ["network_specs", "problems"]

#: The order sampled_from shrinks along: a minimal failing example is easiest to read on a linear
#: layer, then on smooth squashing ones, then on kinked ones. Names not listed go last.
_SIMPLEST_FIRST = ("identity", "tanh", "sigmoid", "relu", "leaky_relu", "softplus")
#: Losses shrink toward mse: no output-layer constraint, no target range.
_LOSS_ORDER = ("mse", "bce")


def network_specs(
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    min_width: int = 1,
    max_width: int = 16,
    activations: Sequence[str] = ACTIVATIONS,
    losses: Sequence[str] = LOSSES,
    output_activations: Sequence[str] | None = None,
) -> SearchStrategy[NetworkSpec]:
    """Strategy for a `NetworkSpec`: depth L in [min_depth, max_depth], every size n0..nL in
    [min_width, max_width], one activation per layer and a loss.

    ``activations`` are the choices for every layer; ``output_activations``, when given, replace
    them for the output layer L. A bce spec always has a sigmoid output layer, because bce is
    defined only there (DESIGN.md): when ``output_activations`` is None the output layer of a bce
    spec is sigmoid even if ``activations`` omits it; when ``output_activations`` is given and
    omits 'sigmoid', bce is not drawn (and asking for bce alone is an error).

    The order of ``activations`` and ``losses`` does not matter: draws shrink toward ``identity``
    (then tanh, sigmoid, relu, leaky_relu, softplus) and toward ``mse``.

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
    layer_choices = _activation_names("activations", activations)
    loss_choices = _loss_names(losses)
    if output_activations is None:
        output_choices = layer_choices
    else:
        output_choices = _activation_names("output_activations", output_activations)
        if "sigmoid" not in output_choices and "bce" in loss_choices:
            if loss_choices == ("bce",):
                raise SpecError(
                    f"losses=('bce',) needs a sigmoid output layer, but "
                    f"output_activations={tuple(output_activations)!r} excludes 'sigmoid'; "
                    f"add 'sigmoid' to output_activations or allow losses=('mse',)"
                )
            loss_choices = tuple(name for name in loss_choices if name != "bce")
    return _network_specs(
        min_depth, max_depth, min_width, max_width, layer_choices, output_choices, loss_choices
    )


@st.composite
def _network_specs(
    draw: st.DrawFn,
    min_depth: int,
    max_depth: int,
    min_width: int,
    max_width: int,
    layer_choices: tuple[str, ...],
    output_choices: tuple[str, ...],
    loss_choices: tuple[str, ...],
) -> NetworkSpec:
    # Every choice is drawn whatever the loss, so the choice sequence keeps one shape and
    # the shrinker can move the loss without realigning the rest.
    L = draw(st.integers(min_depth, max_depth), label="depth")
    sizes = tuple(draw(st.integers(min_width, max_width)) for _ in range(L + 1))
    hidden = tuple(draw(st.sampled_from(layer_choices)) for _ in range(L - 1))
    output = draw(st.sampled_from(output_choices))
    loss = draw(st.sampled_from(loss_choices))
    if loss == "bce":
        output = "sigmoid"
    return NetworkSpec(sizes, (*hidden, output), loss)


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
    for name in names:
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise UnknownActivationError(
                f"{argument}: unknown activation {name!r}: {_suggest(str(name), ACTIVATIONS)}"
            )
    return _simplest_first(names, _SIMPLEST_FIRST + ACTIVATIONS)


def _loss_names(names: Any) -> tuple[str, ...]:
    if isinstance(names, str):
        raise SpecError(
            f"losses must be a sequence of loss names, got the single string {names!r}; "
            f"write losses=({names!r},)"
        )
    if not isinstance(names, Sequence) or len(names) == 0:
        raise SpecError(
            f"losses={names!r}: must be a non-empty sequence of loss names; "
            f"known: {', '.join(LOSSES)}"
        )
    for name in names:
        if not isinstance(name, str) or name not in LOSSES:
            raise UnknownLossError(f"losses: unknown loss {name!r}: {_suggest_loss(str(name))}")
    return _simplest_first(names, _LOSS_ORDER + LOSSES)


def _simplest_first(names: Sequence[str], order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(names), key=order.index))


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
