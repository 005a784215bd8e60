"""Candidate vs sources, per layer and tensor: records, never printing, never raising on garbage.

For each (layer, W|b) the candidate's tensor is checked in order: present (count), a float64
`numpy.ndarray` (dtype), exactly the parameter's shape — no broadcasting, a db of shape (n, 1)
is a shape finding — and finite. Then every entry is compared with the expected value of the
most precise source that speaks for it, within ``backprop bound + that source's bound``
(`harness.tolerance`). The sources are cross-checked first: where they disagree with each other
beyond their own bounds the tensor is a ``source-disagreement`` — a harness fault, never blamed on
the candidate. Entries whose finite difference crosses a ReLU-type kink are ``undecidable`` when
the candidate differs there, never a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from harness.errors import HarnessError
from harness.network import Array
from harness.plain import Foreign, Unusable, read_output
from harness.sources import closed_form, finite_diff, symbolic
from harness.spec import Problem
from harness.tolerance import (
    DEFAULT_TIERS,
    EPS,
    Tiers,
    candidate_bound,
    half_ulp,
    precision_of,
)

__all__ = [
    "DEFAULT_RULES",
    "PASSING",
    "STATUSES",
    "Entry",
    "Rules",
    "SourceValues",
    "TensorRecord",
    "compare",
    "evaluate_sources",
]

Mask = NDArray[np.bool_]

#: Every status a record can have, from best to worst.
STATUSES: Final = (
    "ok",
    "unsupported",
    "undecidable",
    "imprecise",
    "mismatch",
    "shape",
    "dtype",
    "nonfinite",
    "count",
    "raises",
    "timeout",
    "crashed",
    "memory",
    "mutates_inputs",
    "nondeterministic",
    "source-disagreement",
)
#: Statuses that pass: the candidate is right, or cannot be judged there (a kink, a case outside
#: what it declared it supports). An ``imprecise`` tensor passes too, as a warning, unless the
#: check is strict (`TensorRecord.passed`).
PASSING: Final = frozenset({"ok", "undecidable", "unsupported"})
#: How many of the worst entries a record keeps.
WORST: Final = 5


@dataclass(frozen=True)
class SourceValues:
    """What the three sources say about one problem, each value with its per-entry bound."""

    grads: dict[str, list[tuple[Array, Array]]]  # source name -> [(dW, db), ...]
    bounds: dict[str, list[tuple[Array, Array]]]  # source name -> per-entry error bound
    undecidable: list[tuple[Mask, Mask]]  # finite differences crossing a kink
    backprop: list[tuple[Array, Array]]  # rounding bound of any float64 backprop
    #: the same for a backprop with naive activation formulas (`Tiers.formulas`); None: backprop
    naive: list[tuple[Array, Array]] | None = None


def evaluate_sources(
    problem: Problem,
    *,
    digits: int | None = 50,
    precision: str = "float64",
) -> SourceValues:
    """Run every source on ``problem``; 50-digit SymPy values join on nets small enough.
    ``backprop`` is the rounding bound of a candidate computing in ``precision``."""
    float64 = candidate_bound(problem, "float64")
    estimate = finite_diff.estimate(problem)
    grads = {
        "closed_form": closed_form.gradients(problem),
        "symbolic": symbolic.gradients(problem),
        "finite_diff": estimate.grads,
    }
    # SymPy's float64 evaluation multiplies out the whole loss's expression in an order of its
    # own (products through identity layers associated otherwise): the probabilistic bound of a
    # backprop does not describe it, the worst case does (2.85 vs 0.05 of each, measured on a
    # deep identity net where the soak found it).
    worst_case = candidate_bound(problem, "float64", lam=None)
    bounds = {"closed_form": float64, "symbolic": worst_case, "finite_diff": estimate.bound}
    if digits is not None and problem.spec.n_params <= symbolic.MAX_PARAMS_FOR_DIGITS:
        precise = symbolic.gradients(problem, digits=digits).grads
        grads["symbolic_50"] = precise
        # Exact to ~`digits` digits relative to the terms it sums, not to its result: where the
        # terms cancel (an entry of 1e-43 from terms of 1e-9 at a saturated softmax) the
        # float64 error model scaled to that precision bounds it; then half an ulp of rounding.
        scale = 10.0**-digits / EPS
        bounds["symbolic_50"] = [
            (half_ulp(dW) + scale * bW, half_ulp(db) + scale * bb)
            for (dW, db), (bW, bb) in zip(precise, float64)
        ]
    candidate = float64 if precision == "float64" else candidate_bound(problem, precision)
    naive = candidate_bound(problem, precision, naive=True)
    return SourceValues(grads, bounds, estimate.undecidable, candidate, naive)


@dataclass(frozen=True)
class Entry:
    """One entry of a tensor: where, what the candidate said, what the sources agree on."""

    index: tuple[int, ...]
    candidate: float
    expected: float
    abs_error: float
    bound: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": list(self.index),
            "candidate": self.candidate,
            "expected": self.expected,
            "abs_error": self.abs_error,
            "bound": self.bound,
        }


@dataclass(frozen=True)
class TensorRecord:
    """The verdict on one (layer, tensor) of a candidate, or on the whole call (layer None)."""

    layer: int | None
    param: str | None  # "W", "b", or None for a whole-call problem
    status: str
    detail: str
    shape: tuple[int, ...] = ()
    total: int = 0
    mismatched: int = 0
    undecidable: int = 0
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: tuple[Entry, ...] = ()
    sources: tuple[str, ...] = ()  # the sources that agree with the expected values
    ratio: Array | None = field(default=None, repr=False)  # |Δ| / bound per entry
    diagnosis: str | None = None  # the named pattern of a mismatch (harness.diagnose), if any
    imprecise: int = 0  # entries beyond the rounding model but within the precision band
    strict: bool = False  # imprecise entries fail
    rel: Array | None = field(default=None, repr=False)  # |Δ| / |expected| per entry (heatmaps)

    @property
    def where(self) -> str:
        return "whole call" if self.layer is None else f"layer {self.layer} d{self.param}"

    @property
    def passed(self) -> bool:
        return self.status in PASSING or (self.status == "imprecise" and not self.strict)

    @property
    def warning(self) -> bool:
        """Imprecise but passing: a precision choice to look at, not a failure."""
        return self.status == "imprecise" and not self.strict

    def as_dict(self, with_ratio: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "layer": self.layer,
            "param": self.param,
            "status": self.status,
            "detail": self.detail,
            "shape": list(self.shape),
            "total": self.total,
            "mismatched": self.mismatched,
            "undecidable": self.undecidable,
            "max_abs_error": self.max_abs_error,
            "max_rel_error": self.max_rel_error,
            "worst": [e.as_dict() for e in self.worst],
            "sources": list(self.sources),
            "diagnosis": self.diagnosis,
            "imprecise": self.imprecise,
            "strict": self.strict,
        }
        if with_ratio and self.ratio is not None:
            out["ratio"] = np.asarray(self.ratio, dtype=np.float64).tolist()
        return out


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _fmt_pair(a: float, b: float) -> tuple[str, str]:
    """Both numbers with just enough digits to tell them apart (4 to 17 significant)."""
    for digits in range(4, 18):
        left, right = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if left != right:
            return left, right
    return f"{a!r}", f"{b!r}"


def _index_text(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i) for i in index) + "]"


@dataclass(frozen=True)
class Rules:
    """How a candidate's values are judged: the format it computes in (`harness.tolerance`'s
    ``PRECISIONS``), where *imprecise* ends (``tiers``), and whether imprecise entries fail."""

    precision: str = "float64"
    strict: bool = False
    tiers: Tiers = DEFAULT_TIERS

    def __post_init__(self) -> None:
        precision_of(self.precision)  # a clear error naming the choices
        if not isinstance(self.strict, bool):
            raise HarnessError(f"strict must be True or False, got {self.strict!r}")
        if not isinstance(self.tiers, Tiers):
            raise HarnessError(
                "tiers must be a harness.Tiers(tau=..., alpha=...), "
                f"got {type(self.tiers).__name__}"
            )

    @property
    def dtypes(self) -> tuple[type[np.floating[Any]], ...]:
        """The dtypes a candidate may return: its own format, or float64."""
        own = precision_of(self.precision).dtype
        return (np.float64,) if own is np.float64 else (own, np.float64)


DEFAULT_RULES: Final = Rules()


def compare(
    problem: Problem,
    candidate_output: Any,
    sources: SourceValues,
    rules: Rules = DEFAULT_RULES,
) -> tuple[TensorRecord, ...]:
    """One record per (layer, tensor), or a single whole-call record when the output is unusable."""
    pairs = read_output(candidate_output, problem.spec.depth)  # as a worker reads it
    if isinstance(pairs, Unusable):
        return (TensorRecord(None, None, "count", f"candidate {pairs.text}"),)
    records = []
    for l, ((cW, cb), shapes) in enumerate(zip(pairs, problem.spec.param_shapes), start=1):
        for k, (param, value, shape) in enumerate(zip("Wb", (cW, cb), shapes)):
            records.append(_compare_tensor(l, param, k, value, shape, sources, rules))
    return tuple(records)


def _compare_tensor(
    layer: int,
    param: str,
    k: int,
    value: Any,
    shape: tuple[int, ...],
    sources: SourceValues,
    rules: Rules,
) -> TensorRecord:
    where = f"layer {layer} d{param}"
    size = int(np.prod(shape))
    if type(value) is not np.ndarray:  # harness.plain: not a plain numeric ndarray
        kind = value.type_name if isinstance(value, Foreign) else type(value).__name__
        return TensorRecord(
            layer, param, "dtype",
            f"{where}: candidate returned {kind}, expected a plain numpy.ndarray "
            f"of dtype float64 and shape {shape}",
            shape=shape, total=size,
        )  # fmt: skip
    if value.shape != shape:
        return TensorRecord(
            layer, param, "shape",
            f"{where}: candidate shape {value.shape}, expected {shape} (never broadcast)",
            shape=shape, total=size,
        )  # fmt: skip
    if value.dtype not in rules.dtypes:
        hint = (
            "; float32 code: declare precision='float32' (--precision float32)"
            if value.dtype == np.float32
            else ""
        )
        return TensorRecord(
            layer, param, "dtype",
            f"{where}: candidate dtype {value.dtype}, expected "
            f"{' or '.join(np.dtype(t).name for t in rules.dtypes)}{hint}",
            shape=shape, total=size,
        )  # fmt: skip
    value = value.astype(np.float64)
    bad = ~np.isfinite(value)
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        return TensorRecord(
            layer, param, "nonfinite",
            f"{where}: {int(bad.sum())}/{size} entries are not finite, first "
            f"{_index_text(first)} = {float(value[first])!r}",
            shape=shape, total=size, mismatched=int(bad.sum()),
        )  # fmt: skip

    grads = {name: g[layer - 1][k] for name, g in sources.grads.items()}
    # A source that could not evaluate an entry (non-finite value or bound) is silent there.
    bounds = {
        name: np.where(
            np.isfinite(grads[name]) & np.isfinite(b[layer - 1][k]), b[layer - 1][k], np.inf
        )
        for name, b in sources.bounds.items()
    }
    grads = {name: np.nan_to_num(g, nan=0.0, posinf=0.0, neginf=0.0) for name, g in grads.items()}
    undecidable_fd: Mask = sources.undecidable[layer - 1][k]
    backprop = sources.backprop[layer - 1][k]

    # The most precise source for each entry, and whether all sources agree with it.
    order = sorted(grads, key=lambda name: float(np.median(bounds[name])))
    expected = grads[order[0]].copy()
    source_bound = bounds[order[0]].copy()
    for name in order[1:]:
        better = bounds[name] < source_bound
        if name == "finite_diff":
            better &= ~undecidable_fd
        expected[better] = grads[name][better]
        source_bound[better] = bounds[name][better]
    disagreeing: list[str] = []
    for name in order:
        usable = ~undecidable_fd if name == "finite_diff" else np.ones(shape, dtype=bool)
        off = np.abs(grads[name] - expected) > bounds[name] + source_bound
        if np.any(off & usable):
            disagreeing.append(name)
    agreeing = tuple(name for name in order if name not in disagreeing)
    if disagreeing:
        return _disagreement(layer, param, shape, grads, bounds, order, disagreeing)

    delta = np.abs(value - expected)
    bound = backprop + source_bound
    band = np.maximum(backprop, rules.tiers.allowance(expected))
    if rules.tiers.formulas and sources.naive is not None:
        band = np.maximum(band, sources.naive[layer - 1][k])
    band = band + source_bound
    ratio = delta / bound
    beyond = ratio > 1.0
    at_kink = beyond & undecidable_fd
    beyond &= ~undecidable_fd
    wrong = beyond & (delta > band)
    imprecise = beyond & ~wrong
    failing = wrong | imprecise if rules.strict else wrong
    rel = delta / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    shown = wrong if np.any(wrong) else imprecise
    ranked = np.argsort(-ratio, axis=None)[:WORST]
    worst = tuple(
        Entry(
            index=tuple(int(i) for i in np.unravel_index(flat, shape)),
            candidate=float(value.flat[flat]),
            expected=float(expected.flat[flat]),
            abs_error=float(delta.flat[flat]),
            bound=float(bound.flat[flat]),
        )
        for flat in ranked
        if shown.flat[flat] or not np.any(shown)
    )
    n_wrong, n_imprecise, n_kink = int(wrong.sum()), int(imprecise.sum()), int(at_kink.sum())
    if n_wrong:
        top = worst[0]
        status = "mismatch"
        shown_candidate, shown_expected = _fmt_pair(top.candidate, top.expected)
        detail = (
            f"{where}: {n_wrong}/{size} entries wrong; {where}{_index_text(top.index)}: "
            f"candidate {shown_candidate} but sources agree on {shown_expected} "
            f"(|Δ| {top.abs_error:.1e} > bound {top.bound:.1e})"
        )
    elif n_imprecise:
        top = worst[0]
        status = "imprecise"
        shown_candidate, shown_expected = _fmt_pair(top.candidate, top.expected)
        verdict = "fails: strict" if rules.strict else "a warning, not a failure"
        naive = " or the rounding of naive activation formulas" if rules.tiers.formulas else ""
        detail = (
            f"{where}: {n_imprecise}/{size} entries imprecise ({verdict}); "
            f"{where}{_index_text(top.index)}: candidate {shown_candidate}, sources "
            f"{shown_expected} (|Δ| {top.abs_error:.1e} is beyond the {rules.precision} rounding "
            f"bound {top.bound:.1e} but within {rules.tiers.tau:g}·|expected| + "
            f"{rules.tiers.alpha:g}·max|expected|{naive}: a precision choice such as an eps, a "
            f"clip or a formula that loses accuracy, not a logic bug)"
        )
    elif n_kink:
        status = "undecidable"
        detail = f"{where}: {n_kink}/{size} entries differ only where a ReLU-type kink is crossed"
    else:
        status = "ok"
        detail = f"{where}: {size}/{size} entries agree (max |Δ|/bound {float(ratio.max()):.2g})"
    return TensorRecord(
        layer, param, status, detail,
        shape=shape, total=size, mismatched=int(failing.sum()), undecidable=n_kink,
        max_abs_error=float(delta.max()), max_rel_error=float(rel.max()),
        worst=worst, sources=agreeing, ratio=ratio, imprecise=n_imprecise, strict=rules.strict,
        rel=rel,
    )  # fmt: skip


def _disagreement(
    layer: int,
    param: str,
    shape: tuple[int, ...],
    grads: dict[str, Array],
    bounds: dict[str, Array],
    order: list[str],
    disagreeing: list[str],
) -> TensorRecord:
    """The sources contradict each other: a harness fault, reported loudly, no blame."""
    best = order[0]
    name = disagreeing[0] if disagreeing[0] != best else (disagreeing + order)[1]
    gap = np.abs(grads[name] - grads[best])
    flat = int(np.argmax(gap / (bounds[name] + bounds[best])))
    index = tuple(int(i) for i in np.unravel_index(flat, shape))
    detail = (
        f"HARNESS FAULT at layer {layer} d{param}{_index_text(index)}: source {name} says "
        f"{_fmt(float(grads[name].flat[flat]))} but {best} says "
        f"{_fmt(float(grads[best].flat[flat]))} (|Δ| {float(gap.flat[flat]):.1e} > bounds "
        f"{float(bounds[name].flat[flat]) + float(bounds[best].flat[flat]):.1e}); "
        f"the candidate is not judged here"
    )
    return TensorRecord(
        layer, param, "source-disagreement", detail,
        shape=shape, total=int(np.prod(shape)),
        sources=tuple(n for n in order if n not in disagreeing),
    )  # fmt: skip
