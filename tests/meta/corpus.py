"""The meta corpus: every deliberately wrong backprop, every correct one, and what the harness
must say about each.

An `Entry` declares, for each spec it runs on (``runs_on``), what `harness.check` must find on
``Problem.random(spec, batch=entry.batch, seed=..., weight_scale=entry.weight_scale)``:

- ``affected(spec)``: the exact set of ``(finding.layer, finding.param)`` — ``(l, "W" | "b")``
  for a tensor, ``(None, None)`` for the whole call. Empty: the bug hides on that spec (the
  check must pass there); a correct entry's is always empty.
- ``kind``: the kind of every finding. With ``values_too`` a whole-call kind (nondeterministic
  dropout) comes with ``value`` findings on the tensors it also gets wrong.
- ``diagnosis``: the pattern `harness.diagnose` must name on the value findings in
  ``diagnosed(spec)`` (default: all of ``affected``) — the tensors where the bug itself sits,
  not those that merely inherit a wrong upstream gradient.

Implementations live in modules by style: `wrong_backprops` (the first ten, vectorized),
`loops`, `rows`, `dict_cache`, `layers`, `einsum_style`, `autograd`, `misbehaving` and `correct`.
Each has a file of its own, ``tests/meta/<name>.py``, for the command line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from . import autograd, correct, dict_cache, einsum_style, layers, loops, misbehaving, rows
from .wrong_backprops import WRONG_BACKPROPS, Backward, SpecLike

__all__ = ["CORPUS", "DIAGNOSES", "STYLES", "Blame", "Entry"]

#: (layer, "W" | "b") for a tensor, (None, None) for the whole call.
Blame = set[tuple[int | None, str | None]]

#: The patterns `harness.diagnose` can name.
DIAGNOSES: Final = (
    "transposed",
    "scaled",
    "sign-flipped",
    "missing-activation-derivative",
    "derivative-at-activation",
    "wrong-activation-derivative",
    "layer-shifted",
    "reversed-layers",
    "float32-precision",
    "single-entry",
)

STYLES: Final = (
    "vectorized",
    "loops",
    "rows-as-samples",
    "dict-cache",
    "layers",
    "einsum",
    "autograd",
)


def _always(spec: SpecLike) -> bool:
    return True


def _nowhere(spec: SpecLike) -> Blame:
    return set()


@dataclass(frozen=True)
class Entry:
    """One backprop of the corpus and the verdict the harness owes it."""

    name: str
    backward: Backward
    description: str
    correct: bool
    kind: str | None
    affected: Callable[[SpecLike], Blame]
    diagnosis: str | None
    runs_on: Callable[[SpecLike], bool]
    style: str
    bug_class: str | None = None
    diagnosed: Callable[[SpecLike], Blame] | None = None
    values_too: bool = False
    batch: int = 4
    weight_scale: float = 1.0
    timeout: float = 5.0

    def must_name(self, spec: SpecLike) -> Blame:
        """The value findings that must carry ``diagnosis`` (empty when there is none)."""
        if self.diagnosis is None:
            return set()
        return (self.diagnosed or self.affected)(spec)


CORPUS: dict[str, Entry] = {}


def _add(
    backward: Backward,
    style: str,
    *,
    correct: bool = False,
    kind: str | None = "value",
    affected: Callable[[SpecLike], Blame] = _nowhere,
    diagnosis: str | None = None,
    runs_on: Callable[[SpecLike], bool] = _always,
    bug_class: str | None = None,
    **options: object,
) -> None:
    name = backward.__name__
    description = inspect.cleandoc(backward.__doc__ or "")
    CORPUS[name] = Entry(
        name=name,
        backward=backward,
        description=description,
        correct=correct,
        kind=None if correct else kind,
        affected=affected,
        diagnosis=diagnosis,
        runs_on=runs_on,
        style=style,
        bug_class=bug_class,
        **options,  # type: ignore[arg-type]
    )


# --- where bugs live ---------------------------------------------------------------------------


def _depth(spec: SpecLike) -> int:
    return len(spec.sizes) - 1


def _layers_up_to(top: int, params: Sequence[str] = ("W", "b")) -> Blame:
    return {(l, t) for l in range(1, top + 1) for t in params}


def _every_tensor(spec: SpecLike) -> Blame:
    return _layers_up_to(_depth(spec))


def _every_W(spec: SpecLike) -> Blame:
    return _layers_up_to(_depth(spec), ("W",))


def _every_b(spec: SpecLike) -> Blame:
    return _layers_up_to(_depth(spec), ("b",))


def _below_the_top(spec: SpecLike) -> Blame:
    return _layers_up_to(_depth(spec) - 1)


def _at_the_top(spec: SpecLike) -> Blame:
    return {(_depth(spec), "W"), (_depth(spec), "b")}


def _whole_call(spec: SpecLike) -> Blame:
    return {(None, None)}


def _topmost(spec: SpecLike, names: frozenset[str]) -> int:
    """The highest layer whose activation is one of ``names``, 0 if none."""
    return max((l for l, a in enumerate(spec.activations, start=1) if a in names), default=0)


def _at_or_below(*names: str) -> Callable[[SpecLike], Blame]:
    """A wrong g' of these activations: its topmost layer and every layer below it."""
    return lambda spec: _layers_up_to(_topmost(spec, frozenset(names)))


def _at(*names: str) -> Callable[[SpecLike], Blame]:
    """Only the topmost layer with one of these activations: where a wrong g' itself sits."""

    def diagnosed(spec: SpecLike) -> Blame:
        top = _topmost(spec, frozenset(names))
        return {(top, "W"), (top, "b")} if top else set()

    return diagnosed


def _if(
    condition: Callable[[SpecLike], bool], blame: Callable[[SpecLike], Blame]
) -> Callable[[SpecLike], Blame]:
    return lambda spec: blame(spec) if condition(spec) else set()


def _bce(spec: SpecLike) -> bool:
    return spec.loss == "bce"


def _mse(spec: SpecLike) -> bool:
    return spec.loss == "mse"


def _all_widths_equal(spec: SpecLike) -> bool:
    return len(set(spec.sizes)) == 1


def _hidden_and_output_widths_equal(spec: SpecLike) -> bool:
    return len(set(spec.sizes[1:])) == 1


def _mirror_shapes(spec: SpecLike) -> bool:
    """Layer l's (W, b) shapes equal layer L + 1 - l's."""
    shapes = [(n_l, n_prev) for n_prev, n_l in zip(spec.sizes[:-1], spec.sizes[1:])]
    return shapes == shapes[::-1]


def _not_mirrored(spec: SpecLike) -> Blame:
    L = _depth(spec)
    return {(l, t) for l in range(1, L + 1) if l != L + 1 - l for t in ("W", "b")}


def _no_relu(spec: SpecLike) -> bool:
    """A relu unit can be off on every sample of a batch: its gradients are 0 whatever the bug."""
    return "relu" not in spec.activations


def _deep(spec: SpecLike) -> bool:
    return _depth(spec) >= 2


def _one_layer(spec: SpecLike) -> bool:
    return _depth(spec) == 1


def _small(spec: SpecLike) -> bool:
    """Small enough for a scalar autograd engine to stay well under a second."""
    return sum(n_l * n_prev + n_l for n_prev, n_l in zip(spec.sizes[:-1], spec.sizes[1:])) <= 60


# --- the first ten (tests/meta/wrong_backprops.py): vectorized, values only -----------------


def _square_W(spec: SpecLike) -> Blame:
    return {
        (l, "W")
        for l, (n_prev, n_l) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:]), start=1)
        if n_l == n_prev > 1
    }


_FIRST_TEN: dict[str, tuple[str, str | None, Callable[[SpecLike], Blame] | None]] = {
    # name: (bug class, diagnosis, where the diagnosis must be named)
    "transposed_dW": ("dW transposed (rows-as-samples formula)", "transposed", _square_W),
    "missing_1_over_m": ("1/m missing everywhere", "scaled", None),
    "sigmoid_prime_is_sigmoid": (
        "sigmoid' written as sigmoid",
        "wrong-activation-derivative",
        _at("sigmoid"),
    ),
    "bias_mean_over_samples": ("db divided by m twice", "scaled", None),
    "backward_sum_uses_own_W": ("backward sum through W^(l) for W^(l+1)", "layer-shifted", None),
    "first_layer_skipped": ("backward loop stops before layer 1", None, None),
    "bias_dropped_in_forward": ("forward pass without + b", None, None),
    "g_prime_of_A": (
        "g' evaluated at A instead of Z",
        "derivative-at-activation",
        _at("sigmoid", "tanh", "softplus"),
    ),
    "output_delta_sign_flipped": ("output gradient negated", "sign-flipped", None),
    "mse_with_half_convention": ("mse derivative of the ½ convention", "scaled", None),
}


def _add_the_first_ten() -> None:
    for name, (bug_class, diagnosis, diagnosed) in _FIRST_TEN.items():
        bug = WRONG_BACKPROPS[name]
        CORPUS[name] = Entry(
            name=name,
            backward=bug.backward,
            description=bug.description,
            correct=False,
            kind="value",
            affected=bug.affected,  # type: ignore[arg-type]
            diagnosis=diagnosis,
            runs_on=bug.runs_on,
            style="vectorized",
            bug_class=bug_class,
            diagnosed=diagnosed,
        )


_add_the_first_ten()


# --- loops (seed 000, per index) ---------------------------------------------------------------

_add(
    loops.tanh_prime_not_squared,
    "loops",
    affected=_at_or_below("tanh"),
    diagnosis="wrong-activation-derivative",
    diagnosed=_at("tanh"),
    bug_class="tanh' as 1 - tanh (not squared)",
)
_add(
    loops.db_loop_skips_last_unit,
    "loops",
    affected=_every_b,
    diagnosis="single-entry",
    diagnosed=lambda spec: {(l, "b") for l, n in enumerate(spec.sizes[1:], start=1) if n > 1},
    runs_on=_no_relu,
    bug_class="off-by-one loop bound leaves one entry unset",
)
_add(
    loops.bias_assigned_per_sample,
    "loops",
    affected=_every_b,
    bug_class="= instead of += over samples (db)",
)
_add(
    loops.backward_sum_uses_w_kj,
    "loops",
    affected=_below_the_top,
    runs_on=_hidden_and_output_widths_equal,
    bug_class="backward sum over w_kj (W for W^T)",
)

# --- rows as samples -----------------------------------------------------------------------------


_PIECEWISE_LINEAR = frozenset({"relu", "leaky_relu", "identity"})


def _activation_mixup_top(spec: SpecLike) -> int:
    """activations_not_reversed: the highest layer l differentiated with another layer's g'."""
    acts, L = spec.activations, _depth(spec)
    return max((l for l in range(1, L + 1) if acts[l - 1] != acts[L - l]), default=0)


def _activation_mixup_named(spec: SpecLike) -> Blame:
    top = _activation_mixup_top(spec)
    # A piecewise-linear g' in another layer's place is 1 or a constant wherever the data keep z
    # on one side of 0: then it reads as a missing g', or a zero gradient. Only a smooth one is
    # a wrong g' on every problem.
    if top == 0 or spec.activations[_depth(spec) - top] in _PIECEWISE_LINEAR:
        return set()
    return {(top, "W"), (top, "b")}


def _mixup_is_generic(spec: SpecLike) -> bool:
    """Two different piecewise-linear g' agree wherever z > 0: on some data they coincide."""
    acts, L = spec.activations, _depth(spec)
    return not any(
        acts[l - 1] != acts[L - l] and {acts[l - 1], acts[L - l]} <= _PIECEWISE_LINEAR
        for l in range(1, L + 1)
    )


_add(
    rows.leaky_slope_in_derivative,
    "rows-as-samples",
    affected=_at_or_below("leaky_relu"),
    diagnosis="wrong-activation-derivative",
    diagnosed=_at("leaky_relu"),
    bug_class="leaky_relu' slope 0.1 for 0.01",
)
_add(
    rows.missing_output_g_prime,
    "rows-as-samples",
    affected=_if(lambda spec: spec.activations[-1] != "identity", _every_tensor),
    diagnosis="missing-activation-derivative",
    diagnosed=_if(lambda spec: spec.activations[-1] != "identity", _at_the_top),
    bug_class="output layer's g' missing",
)
_add(
    rows.mse_mean_over_outputs,
    "rows-as-samples",
    affected=_if(lambda spec: _mse(spec) and spec.sizes[-1] > 1, _every_tensor),
    diagnosis="scaled",
    bug_class="mse averaged over outputs too (1/n_L)",
)
_add(
    rows.activations_not_reversed,
    "rows-as-samples",
    affected=lambda spec: _layers_up_to(_activation_mixup_top(spec)),
    runs_on=_mixup_is_generic,
    diagnosis="wrong-activation-derivative",
    diagnosed=_activation_mixup_named,
    bug_class="activation list not reversed in the backward walk",
)
_add(
    rows.grads_returned_top_first,
    "rows-as-samples",
    affected=_not_mirrored,
    diagnosis="reversed-layers",
    runs_on=_mirror_shapes,
    bug_class="gradients returned top layer first",
)
_add(
    rows.float32_computation,
    "rows-as-samples",
    affected=_every_tensor,
    diagnosis="float32-precision",
    bug_class="float32 arithmetic",
)

# --- dict caches -------------------------------------------------------------------------------

_add(
    dict_cache.dW_not_averaged,
    "dict-cache",
    affected=_every_W,
    diagnosis="scaled",
    bug_class="dW not averaged (db is)",
)
_add(
    dict_cache.dW_uses_own_activation,
    "dict-cache",
    affected=_every_W,
    diagnosis="layer-shifted",
    runs_on=_all_widths_equal,
    bug_class="dW formed with A^(l) for A^(l-1)",
)
_add(
    dict_cache.db_left_as_column,
    "dict-cache",
    kind="shape",
    affected=_every_b,
    bug_class="db returned as an (n, 1) column",
)
_add(
    dict_cache.dropout_left_on,
    "dict-cache",
    kind="nondeterministic",
    affected=lambda spec: _whole_call(spec) | _every_tensor(spec),
    values_too=True,
    runs_on=_deep,
    bug_class="(Gaussian) dropout left on",
)

# --- layer objects -------------------------------------------------------------------------------

_add(
    layers.relu_prime_is_z,
    "layers",
    affected=_at_or_below("relu"),
    diagnosis="wrong-activation-derivative",
    diagnosed=_at("relu"),
    bug_class="relu' as z itself",
)


def _tensors_of_more_than_one_entry(spec: SpecLike) -> Blame:
    """A lone number is "scaled" by any factor: naming a factor there would say nothing."""
    return {
        (l, t)
        for l, (n_prev, n_l) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:]), start=1)
        for t, size in (("W", n_l * n_prev), ("b", n_l))
        if size > 1
    }


_add(
    layers.returns_update_step,
    "layers",
    affected=_every_tensor,
    diagnosis="scaled",
    diagnosed=_tensors_of_more_than_one_entry,
    bug_class="returns the SGD step -lr·grad",
)
_add(
    layers.update_before_propagate,
    "layers",
    affected=_below_the_top,
    bug_class="W updated before propagating through it",
)
_add(
    layers.step_mutates_params,
    "layers",
    kind="mutates_inputs",
    affected=_whole_call,
    bug_class="in-place SGD step on the caller's parameters",
)

# --- einsum ------------------------------------------------------------------------------------

_add(
    einsum_style.softplus_prime_sign_error,
    "einsum",
    affected=_at_or_below("softplus"),
    diagnosis="wrong-activation-derivative",
    diagnosed=_at("softplus"),
    bug_class="softplus' as σ(-z)",
)
_add(
    einsum_style.bce_derivative_sign_error,
    "einsum",
    affected=_if(_bce, _every_tensor),
    bug_class="bce derivative with + on the (1 - y) term",
)
_add(
    einsum_style.l2_penalty_left_in,
    "einsum",
    affected=_every_W,
    bug_class="weight-decay term left in dW",
)


def _g_prime_squared_shows(spec: SpecLike) -> Blame:
    """g_prime_applied_twice: the topmost hidden layer whose g'² is not g' and every layer below
    it (relu and identity have g' in {0, 1}, where g'² = g')."""
    hidden = enumerate(spec.activations[:-1], start=1)
    return _layers_up_to(max((l for l, a in hidden if a not in ("relu", "identity")), default=0))


_add(
    einsum_style.g_prime_applied_twice,
    "einsum",
    affected=_g_prime_squared_shows,
    bug_class="hidden g' applied twice (dA and dZ mixed up)",
)

# --- scalar autograd ---------------------------------------------------------------------------


def _overwritten(spec: SpecLike) -> Blame:
    """grad_assigned_not_accumulated: every dW; db^(l) if a wider layer sits above it, or bce."""
    L = _depth(spec)
    biases = {
        (l, "b") for l in range(1, L + 1) if _bce(spec) or any(n > 1 for n in spec.sizes[l + 1 :])
    }
    return _every_W(spec) | biases


_add(
    autograd.grad_assigned_not_accumulated,
    "autograd",
    affected=_overwritten,
    runs_on=_small,
    bug_class="= instead of += in the engine's product",
)

# --- contract breakers -------------------------------------------------------------------------

_BATCH_FOR_AXIS_BUG = 7
_SATURATING_SCALE = 200.0

_add(
    misbehaving.float32_arrays_returned,
    "vectorized",
    kind="shape",
    affected=_every_tensor,
    bug_class="float32 arrays returned",
)
_add(
    misbehaving.bias_summed_over_wrong_axis,
    "vectorized",
    kind="shape",
    affected=_every_b,
    runs_on=lambda spec: _BATCH_FOR_AXIS_BUG not in spec.sizes[1:],
    batch=_BATCH_FOR_AXIS_BUG,
    bug_class="db summed over the units, shape (m,)",
)
_add(
    misbehaving.only_weight_grads,
    "vectorized",
    kind="count",
    affected=_whole_call,
    bug_class="returns [dW1, ...] without the biases",
)
_add(
    misbehaving.squeeze_breaks_batch_of_one,
    "vectorized",
    kind="raises",
    affected=_whole_call,
    batch=1,
    bug_class="np.squeeze drops the sample axis at m = 1",
)
_add(
    misbehaving.bce_unsimplified_saturates,
    "vectorized",
    kind="nonfinite",
    affected=_every_tensor,
    runs_on=_bce,
    weight_scale=_SATURATING_SCALE,
    bug_class="0/0 in the unsimplified bce derivative at saturation",
)
_add(
    misbehaving.residual_in_place_on_Y,
    "vectorized",
    kind="mutates_inputs",
    affected=_whole_call,
    bug_class="residual formed in place in the caller's Y",
)
_add(
    misbehaving.hangs,
    "vectorized",
    kind="timeout",
    affected=_whole_call,
    runs_on=_one_layer,
    timeout=0.5,
    bug_class="never returns in time",
)

# --- correct, one per style, and one for saturated problems ------------------------------------

_add(correct.loops_correct, "loops", correct=True)
_add(correct.rows_correct, "rows-as-samples", correct=True)
_add(correct.dict_cache_correct, "dict-cache", correct=True)
_add(correct.layers_correct, "layers", correct=True)
_add(correct.einsum_correct, "einsum", correct=True)
_add(correct.autograd_correct, "autograd", correct=True, runs_on=_small)
_add(
    correct.saturation_proof_correct,
    "vectorized",
    correct=True,
    weight_scale=_SATURATING_SCALE,
)
