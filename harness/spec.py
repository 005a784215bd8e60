"""`NetworkSpec` and `Problem`: validated once, at construction, then trusted downstream.

A `NetworkSpec` is the architecture (layer sizes, one activation per layer, the loss); a `Problem`
is a spec with concrete float64 parameters, inputs X (n0, m) and targets Y (nL, m). Both check
everything on construction and raise a typed `HarnessError` that names the problem; nothing
downstream re-checks. A `Problem` keeps read-only copies of its arrays, so no source or candidate
can change them behind the harness's back.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from harness.errors import (
    ArrayDtypeError,
    ArrayShapeError,
    NonFiniteError,
    ProblemError,
    SpecError,
    TargetRangeError,
    UnknownActivationError,
    UnknownLossError,
)
from harness.network import (
    ACTIVATIONS,
    LOSSES,
    OUTPUT_ONLY_ACTIVATIONS,
    REDUCTIONS,
    Array,
    forward,
    is_kinked,
    loss_value,
    parse_activation,
)

__all__ = ["Loss", "NetworkSpec", "Problem"]


_LOSS_ALIASES = {
    "ce": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "categorical_cross_entropy": "cross_entropy",
    "crossentropy": "cross_entropy",
    "nll": "cross_entropy",
    "nll_loss": "cross_entropy",
    "softmax_cross_entropy": "cross_entropy",
    "softmax_ce": "cross_entropy",
    "binary_cross_entropy": "bce",
    "binary_crossentropy": "bce",
    "log_loss": "bce",
    "logistic": "bce",
    "bce_loss": "bce",
    "mean_squared_error": "mse",
    "squared_error": "mse",
    "mse_loss": "mse",
}

#: What an alias of cross_entropy needs besides the name.
_SOFTMAX_HINT = " with a softmax output layer (activations=(..., 'softmax'))"


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"known: {', '.join(known)}{hint}"


def _suggest_loss(name: str) -> str:
    """Like `_suggest`, but a known alias (cross_entropy, l2, ...) names its loss first."""
    alias = _LOSS_ALIASES.get(name.lower().replace("-", "_").replace(" ", "_"))
    if alias:
        hint = _SOFTMAX_HINT if alias == "cross_entropy" else ""
        return f"known: {', '.join(LOSSES)}; did you mean {alias!r}{hint}?"
    if name.lower() == "l2":
        return (
            f"known: {', '.join(LOSSES)}; L2 weight decay is not a loss: declare it with "
            f"NetworkSpec(..., l2=λ) (--l2 on the command line)"
        )
    return _suggest(name, LOSSES)


def _suggest_activation(name: str) -> str:
    """Like `_suggest`, with the parametrized leaky_relu(α) spelled out."""
    known = f"known: {', '.join(ACTIVATIONS)}, leaky_relu(α) for a slope α > 0"
    lowered = name.lower().strip()
    if lowered.startswith("leaky"):
        return f"{known}; write the slope as e.g. 'leaky_relu(0.2)'"
    if lowered in ("log_softmax", "logsoftmax"):
        return f"{known}; did you mean 'softmax' (with loss='cross_entropy')?"
    close = difflib.get_close_matches(lowered, ACTIVATIONS, n=1, cutoff=0.5)
    return f"{known}; did you mean {close[0]!r}?" if close else known


@dataclass(frozen=True, init=False, eq=False)
class Loss:
    """A loss convention: which loss, whether it carries ½, and how samples are reduced.

    ``J_data = Σ_i C_i / divisor`` with C_i the loss of sample i summed over the outputs
    (DESIGN.md) and the divisor m (``reduction="mean"``, the seeds'), 1 (``"sum"``) or m·n_L
    (``"elementwise_mean"``, torch's default for MSELoss / BCELoss), doubled by ``half=True``
    (mse only: ½·Σ(a - y)²).

    >>> Loss("mse", half=True, reduction="sum")
    Loss('mse', half=True, reduction='sum')
    """

    name: str
    half: bool
    reduction: str

    def __init__(self, name: str, *, half: bool = False, reduction: str = "mean"):
        if not isinstance(name, str) or name not in LOSSES:
            raise UnknownLossError(f"unknown loss {name!r}: {_suggest_loss(str(name))}")
        if not isinstance(half, (bool, np.bool_)):
            raise SpecError(f"Loss(half=...) must be True or False, got {half!r}")
        if half and name != "mse":
            raise SpecError(
                f"Loss({name!r}, half=True): the ½ factor is a convention of mse only "
                f"(½·Σ(a - y)²); use Loss('mse', half=True) or drop half"
            )
        if not isinstance(reduction, str) or reduction not in REDUCTIONS:
            raise SpecError(
                f"Loss(reduction={reduction!r}): known reductions: {', '.join(REDUCTIONS)} "
                f"(÷ m, none, ÷ m·n_L)"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "half", bool(half))
        object.__setattr__(self, "reduction", reduction)

    def divisor(self, m: int, n_L: int) -> float:
        """What Σ_i C_i is divided by: m, 1 or m·n_L, times 2 with ``half``."""
        base = {"mean": m, "sum": 1, "elementwise_mean": m * n_L}[self.reduction]
        return float(base * (2 if self.half else 1))

    def __eq__(self, other: object) -> bool:
        """Equal to a `Loss` with the same fields, and to a plain name when it has the seeds'
        convention (``Loss("mse") == "mse"``, so code written before `Loss` keeps working)."""
        if isinstance(other, Loss):
            return (self.name, self.half, self.reduction) == (
                other.name,
                other.half,
                other.reduction,
            )
        if isinstance(other, str):
            return self.is_default and self.name == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)  # consistent with equality to the plain name

    @property
    def is_default(self) -> bool:
        """No ½ and the seeds' mean over samples: the name alone says it."""
        return not self.half and self.reduction == "mean"

    def __str__(self) -> str:
        """``mse``, or ``mse (half, sum)``: for reports and messages."""
        options = [*(["half"] if self.half else []), *([self.reduction] * (not self.is_default))]
        options = [o for o in options if o != "mean"]
        return f"{self.name} ({', '.join(options)})" if options else self.name

    def __repr__(self) -> str:
        options = "".join(
            [
                ", half=True" if self.half else "",
                f", reduction={self.reduction!r}" if self.reduction != "mean" else "",
            ]
        )
        return f"Loss({self.name!r}{options})"


def as_loss(loss: Loss | str) -> Loss:
    """A `Loss` from a `Loss` or a loss name."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise UnknownLossError(
            f"unknown loss {loss!r}: a loss is a name ({', '.join(LOSSES)}) or a harness.Loss"
        )
    return Loss(loss)


def _validate_l2(l2: Any) -> float:
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not 0 <= float(l2) < np.inf:
        raise SpecError(
            f"l2 must be a finite number >= 0 (the λ of (λ/2)·Σ‖W‖²), got {l2!r}; "
            f"Nielsen's (λ/2n)·Σw² is l2=λ/n"
        )
    return float(l2)


@dataclass(frozen=True, init=False)
class NetworkSpec:
    """An MLP architecture: ``sizes = (n0, ..., nL)``, one activation per layer, a loss (a name
    or a `Loss`) and the L2 weight decay ``l2`` (J gains (l2/2)·Σ_l ‖W^(l)‖²_F).

    >>> NetworkSpec((4, 8, 2), ("tanh", "sigmoid"), "bce")
    NetworkSpec(sizes=(4, 8, 2), activations=('tanh', 'sigmoid'), loss='bce')
    >>> NetworkSpec((4, 3), ("softmax",), Loss("cross_entropy", reduction="sum"), l2=0.001)
    NetworkSpec(sizes=(4, 3), activations=('softmax',), loss=Loss('cross_entropy', \
reduction='sum'), l2=0.001)
    """

    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: Loss
    l2: float

    def __init__(
        self,
        sizes: Sequence[int],
        activations: Sequence[str],
        loss: Loss | str = "mse",
        *,
        l2: float = 0.0,
    ):
        sizes_t = _validate_sizes(sizes)
        activations_t = _validate_activations(activations, depth=len(sizes_t) - 1)
        loss_o = as_loss(loss)
        output = activations_t[-1]
        if loss_o.name == "bce" and output != "sigmoid":
            raise SpecError(
                f"loss 'bce' needs a sigmoid output layer, but layer {len(activations_t)} is "
                f"{output!r}; use activations=(..., 'sigmoid'), or loss='cross_entropy' with "
                f"a softmax output, or loss='mse'"
            )
        if loss_o.name == "cross_entropy" and output != "softmax":
            raise SpecError(
                f"loss 'cross_entropy' needs a softmax output layer, but layer "
                f"{len(activations_t)} is {output!r}; use activations=(..., 'softmax'), or "
                f"loss='bce' with a sigmoid output"
            )
        object.__setattr__(self, "sizes", sizes_t)
        object.__setattr__(self, "activations", activations_t)
        object.__setattr__(self, "loss", loss_o)
        object.__setattr__(self, "l2", _validate_l2(l2))

    @property
    def depth(self) -> int:
        """L, the number of layers with parameters."""
        return len(self.sizes) - 1

    @property
    def param_shapes(self) -> tuple[tuple[tuple[int, int], tuple[int]], ...]:
        """``((W1.shape, b1.shape), ...)``: W^(l) is (n_l, n_{l-1}), b^(l) is (n_l,)."""
        return tuple(
            ((n_l, n_prev), (n_l,)) for n_prev, n_l in zip(self.sizes[:-1], self.sizes[1:])
        )

    @property
    def n_params(self) -> int:
        """Total number of scalar parameters."""
        return sum(n_l * n_prev + n_l for n_prev, n_l in zip(self.sizes[:-1], self.sizes[1:]))

    def divisor(self, m: int) -> float:
        """What the per-sample losses' sum is divided by, for a batch of m (`Loss.divisor`)."""
        return self.loss.divisor(m, self.sizes[-1])

    def objective(self, params: Sequence[tuple[Array, Array]], X: Array, Y: Array) -> float:
        """J at these parameters: the loss with its reduction, plus the L2 term."""
        return loss_value(
            params,
            X,
            Y,
            self.activations,
            self.loss.name,
            divisor=self.divisor(int(X.shape[1])),
            l2=self.l2,
        )

    def __repr__(self) -> str:
        loss = repr(self.loss.name) if self.loss.is_default else repr(self.loss)
        l2 = f", l2={self.l2!r}" if self.l2 else ""
        return (
            f"NetworkSpec(sizes={self.sizes!r}, activations={self.activations!r}, loss={loss}{l2})"
        )


def _validate_sizes(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, np.ndarray) and sizes.ndim == 1:
        sizes = sizes.tolist()
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise SpecError(f"sizes must be a sequence of positive ints (n0, ..., nL), got {sizes!r}")
    if len(sizes) < 2:
        raise SpecError(
            f"sizes must have at least two entries (n0, n1) for one layer, got {tuple(sizes)!r}"
        )
    for position, n in enumerate(sizes):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise SpecError(
                f"sizes[{position}] = {n!r}: every size must be a positive int, "
                f"got sizes={tuple(sizes)!r}"
            )
    return tuple(int(n) for n in sizes)


def _validate_activations(activations: Any, depth: int) -> tuple[str, ...]:
    if isinstance(activations, str):
        raise SpecError(
            f"activations must be a sequence of {depth} names, one per layer, got the single "
            f"string {activations!r}; write ({activations!r},) * {depth} to use it everywhere"
        )
    if not isinstance(activations, Sequence):
        raise SpecError(f"activations must be a sequence of names, got {activations!r}")
    if len(activations) != depth:
        raise SpecError(
            f"activations has {len(activations)} names but sizes describe {depth} layer(s); "
            f"give exactly one activation per layer"
        )
    canonical: list[str] = []
    for layer, name in enumerate(activations, start=1):
        parsed = parse_activation(name) if isinstance(name, str) else None
        if parsed is None:
            raise UnknownActivationError(
                f"layer {layer}: unknown activation {name!r}: {_suggest_activation(str(name))}"
            )
        if parsed in OUTPUT_ONLY_ACTIVATIONS and layer != depth:
            raise SpecError(
                f"layer {layer}: {parsed!r} couples the outputs of a sample and is allowed on "
                f"the output layer (layer {depth}) only; use another activation here"
            )
        canonical.append(parsed)
    return tuple(canonical)


def _checked_array(value: Any, where: str, shape: tuple[int, ...]) -> Array:
    if not isinstance(value, np.ndarray):
        raise ArrayDtypeError(
            f"{where} must be a numpy.ndarray of dtype float64, got {type(value).__name__}"
        )
    if value.dtype != np.float64:
        raise ArrayDtypeError(
            f"{where} has dtype {value.dtype}, expected float64; convert with "
            f"numpy.asarray(..., dtype=numpy.float64)"
        )
    if value.shape != shape:
        raise ArrayShapeError(f"{where} has shape {value.shape}, expected {shape}")
    if not np.all(np.isfinite(value)):
        bad = np.argwhere(~np.isfinite(value))
        first = tuple(int(i) for i in bad[0])
        raise NonFiniteError(
            f"{where} has {len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'}, "
            f"first at index {first}: {float(value[first])!r}"
        )
    frozen = np.array(value, dtype=np.float64, copy=True)
    frozen.setflags(write=False)
    return frozen


#: How far a cross_entropy target column's sum may be from 1 (rounding of a computed one).
_PROBABILITY_SUM_TOLERANCE: Final = 1e-9


def _validate_targets(loss: str, Y: Array) -> None:
    """bce: every target in [0, 1]; cross_entropy: every column a probability vector."""
    if loss == "bce" and (np.any(Y < 0.0) or np.any(Y > 1.0)):
        bad = np.argwhere((Y < 0.0) | (Y > 1.0))
        first = tuple(int(i) for i in bad[0])
        raise TargetRangeError(
            f"loss 'bce' needs targets in [0, 1]; Y has {len(bad)} outside, first "
            f"Y{list(first)} = {float(Y[first])!r}"
        )
    if loss == "cross_entropy":
        if np.any(Y < 0.0):
            first = tuple(int(i) for i in np.argwhere(Y < 0.0)[0])
            raise TargetRangeError(
                f"loss 'cross_entropy' needs nonnegative targets (each column of Y a probability "
                f"vector); Y{list(first)} = {float(Y[first])!r}"
            )
        sums = np.sum(Y, axis=0)
        off = np.flatnonzero(np.abs(sums - 1.0) > _PROBABILITY_SUM_TOLERANCE)
        if off.size:
            i = int(off[0])
            raise TargetRangeError(
                f"loss 'cross_entropy' needs each column of Y to sum to 1 (a probability "
                f"vector, e.g. one-hot labels); column {i} sums to {float(sums[i])!r} "
                f"({off.size} column(s) off); integer labels c become one-hot columns: "
                f"Y = numpy.eye(n_L)[:, c]"
            )


def _batch_of(X: Any, n0: int) -> int:
    """m from X's shape, or the error that explains why X has none."""
    if not isinstance(X, np.ndarray):
        raise ArrayDtypeError(
            f"X (inputs, columns are samples) must be a numpy.ndarray of dtype float64, "
            f"got {type(X).__name__}"
        )
    if X.ndim != 2:
        raise ArrayShapeError(
            f"X (inputs, columns are samples) has shape {X.shape}, expected ({n0}, m): "
            f"one column per sample"
        )
    if X.shape[1] < 1:
        raise ArrayShapeError(f"X has shape {X.shape}: a batch needs at least one sample")
    return int(X.shape[1])


@dataclass(frozen=True, eq=False, init=False)
class Problem:
    """A spec with float64 parameters ``[(W1, b1), ...]``, inputs X (n0, m) and targets Y (nL, m).

    Arrays are copied and made read-only. ``seed`` and ``weight_scale`` record how a problem made
    by `Problem.random` can be made again; they are None for a problem built by hand.
    """

    spec: NetworkSpec
    params: tuple[tuple[Array, Array], ...]
    X: Array
    Y: Array
    seed: int | None
    weight_scale: float | None
    kink_margin: float | None

    def __init__(
        self,
        spec: NetworkSpec,
        params: Sequence[tuple[Array, Array]],
        X: Array,
        Y: Array,
        *,
        seed: int | None = None,
        weight_scale: float | None = None,
        kink_margin: float | None = None,
    ):
        if not isinstance(spec, NetworkSpec):
            raise ProblemError(f"spec must be a NetworkSpec, got {type(spec).__name__}")
        if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
            raise ProblemError(
                f"params must be a sequence [(W1, b1), ...], got {type(params).__name__}"
            )
        if len(params) != spec.depth:
            raise ProblemError(
                f"params has {len(params)} layer(s) but the spec has {spec.depth}; "
                f"expected [(W1, b1), ..., (W{spec.depth}, b{spec.depth})]"
            )
        checked: list[tuple[Array, Array]] = []
        for layer, (pair, (w_shape, b_shape)) in enumerate(zip(params, spec.param_shapes), start=1):
            if isinstance(pair, np.ndarray) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise ProblemError(f"params[{layer - 1}] must be a pair (W{layer}, b{layer})")
            checked.append(
                (
                    _checked_array(pair[0], f"W{layer} (layer {layer} weights)", w_shape),
                    _checked_array(pair[1], f"b{layer} (layer {layer} bias)", b_shape),
                )
            )
        m = _batch_of(X, spec.sizes[0])
        X_checked = _checked_array(X, "X (inputs, columns are samples)", (spec.sizes[0], m))
        Y_checked = _checked_array(Y, "Y (targets, columns are samples)", (spec.sizes[-1], m))
        _validate_targets(spec.loss.name, Y_checked)
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "params", tuple(checked))
        object.__setattr__(self, "X", X_checked)
        object.__setattr__(self, "Y", Y_checked)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "weight_scale", weight_scale)
        object.__setattr__(self, "kink_margin", kink_margin)

    @property
    def batch(self) -> int:
        """m, the number of samples (columns of X)."""
        return int(self.X.shape[1])

    def rounded(self, dtype: type[np.floating[Any]]) -> Problem:
        """The same problem with every value rounded to ``dtype`` (kept as float64): exactly what
        a candidate computing in that format receives, so the sources judge the same inputs.
        ``seed`` and ``weight_scale`` are kept: the problem is made again by rounding again."""

        def cast(values: Array) -> Array:
            return np.asarray(values, dtype=dtype).astype(np.float64)

        return Problem(
            self.spec,
            [(cast(W), cast(b)) for W, b in self.params],
            cast(self.X),
            cast(self.Y),
            seed=self.seed,
            weight_scale=self.weight_scale,
            kink_margin=self.kink_margin,
        )

    def __repr__(self) -> str:
        if self.seed is not None:
            margin = "" if self.kink_margin == 1e-3 else f", kink_margin={self.kink_margin!r}"
            return (
                f"Problem.random({self.spec!r}, batch={self.batch}, seed={self.seed}, "
                f"weight_scale={self.weight_scale!r}{margin})"
            )
        return f"Problem({self.spec!r}, params=<{self.spec.n_params} values>, batch={self.batch})"

    @classmethod
    def random(
        cls,
        spec: NetworkSpec,
        batch: int,
        seed: int,
        weight_scale: float = 1.0,
        *,
        kink_margin: float = 1e-3,
    ) -> Problem:
        """A reproducible random problem: the same arguments give the same arrays.

        W^(l) ~ weight_scale · N(0, 1) / sqrt(n_{l-1}), b^(l) ~ 0.1 · N(0, 1), X ~ N(0, 1);
        Y ~ U[0, 1) for mse, Bernoulli(1/2) labels in {0, 1} for bce and one-hot columns of
        uniformly drawn classes for cross_entropy. For ReLU-type layers (relu, leaky_relu(α))
        each bias is then moved (as little as possible) so that every pre-activation of that
        row stays at least ``kink_margin`` · max(1, rms of the row) away from the kink at 0.
        """
        if not isinstance(spec, NetworkSpec):
            raise ProblemError(f"spec must be a NetworkSpec, got {type(spec).__name__}: {spec!r}")
        if isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1:
            raise ProblemError(f"batch must be a positive int, got {batch!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ProblemError(f"seed must be a non-negative int, got {seed!r}")
        if not (isinstance(weight_scale, numbers.Real) and 0 < float(weight_scale) < np.inf):
            raise ProblemError(
                f"weight_scale must be a positive finite number, got {weight_scale!r}"
            )
        if not (isinstance(kink_margin, numbers.Real) and 0 <= float(kink_margin) < np.inf):
            raise ProblemError(f"kink_margin must be a finite number >= 0, got {kink_margin!r}")
        rng = np.random.default_rng(int(seed))
        params: list[tuple[Array, Array]] = []
        for n_prev, n_l in zip(spec.sizes[:-1], spec.sizes[1:]):
            W = rng.standard_normal((n_l, n_prev)) * (float(weight_scale) / np.sqrt(n_prev))
            b = 0.1 * rng.standard_normal(n_l)
            params.append((W, b))
        X = rng.standard_normal((spec.sizes[0], int(batch)))
        if spec.loss.name == "bce":
            Y = rng.integers(0, 2, size=(spec.sizes[-1], int(batch))).astype(np.float64)
        elif spec.loss.name == "cross_entropy":
            labels = rng.integers(0, spec.sizes[-1], size=int(batch))
            Y = np.eye(spec.sizes[-1])[:, labels]
        else:
            Y = rng.random((spec.sizes[-1], int(batch)))
        params = _keep_off_kinks(params, X, spec.activations, kink_margin)
        return cls(
            spec,
            params,
            X,
            Y,
            seed=int(seed),
            weight_scale=float(weight_scale),
            kink_margin=float(kink_margin),
        )


def _keep_off_kinks(
    params: list[tuple[Array, Array]],
    X: Array,
    activations: tuple[str, ...],
    margin: float,
) -> list[tuple[Array, Array]]:
    """Move biases of ReLU-type layers so no pre-activation lies within the margin of 0."""
    out: list[tuple[Array, Array]] = []
    A = X
    for (W, b), name in zip(params, activations):
        if is_kinked(name):
            WA = W @ A  # Z - b, per row
            b = b.copy()
            for i in range(W.shape[0]):
                b[i] = _bias_off_kink(WA[i], b[i], margin)
        out.append((W, b))
        A = forward([(W, b)], A, (name,))[0][1]
    return out


def _bias_off_kink(WA_row: Array, b_i: float, margin: float) -> float:
    """The bias closest to ``b_i`` with |WA_row + bias| >= δ for every sample."""
    delta = margin * max(1.0, float(np.sqrt(np.mean(WA_row**2))))
    # Forbidden biases: the intervals (-v - δ, -v + δ) for each value v of the row.
    centres = np.sort(-WA_row)
    if np.all(np.abs(centres - b_i) >= delta):
        return b_i
    candidates = np.concatenate([centres - delta, centres + delta])
    allowed = [c for c in candidates if np.all(np.abs(centres - c) >= delta * (1 - 1e-12))]
    best = min(allowed, key=lambda c: abs(c - b_i))
    return float(best)
