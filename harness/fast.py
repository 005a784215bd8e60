"""Fast mode: one random direction instead of every entry; group testing finds a wrong entry.

Detect. Draw a Rademacher direction v (every entry ±1, from ``numpy.random.default_rng(seed)``)
and compare the candidate's g·v with the directional central difference D ≈ ∇J·v of
`harness.sources.directional`. A correct float64 backprop has each entry within the error
model's bound tol_e of the truth (`harness.tolerance`, the same per-entry bound the full check
uses), so it passes when

    |g·v - D| <= Σ_e tol_e |v_e| + D's error bound + the rounding of g·v.

Since |v_e| = 1, a single wrong entry shifts g·v by its whole error and nothing can compensate
it: one direction always sees it once the error exceeds that tolerance. Several wrong entries
may cancel along one direction; that is the probabilistic part of a fast check.

Localize. On a failure every (layer, tensor) block is tested with v restricted to it; in each
failing block the entries (row-major) are halved, both halves tested, and the failing half
followed down to one entry: about log2(size) tests per block. When both halves fail, or the
entry found does not account for the whole block's discrepancy, more wrong entries may exist.

What it can catch. The tolerance sums the per-entry bounds of every entry v touches, so the
smallest single-entry error fast mode detects is about Σ_e tol_e (printed as ``tolerance``),
P times what the full per-entry check resolves for an entry of average bound. The halving tests
only shrink it. g·v is summed from prefix sums in extended precision with its rounding bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import numpy as np

from harness.compare import Entry
from harness.errors import ArrayDtypeError, ArrayShapeError, HarnessError, NonFiniteError
from harness.network import Array
from harness.sources import closed_form, directional
from harness.spec import Problem
from harness.tolerance import backprop_bound

__all__ = ["FastResult", "Located", "fast_check", "gradients_of"]

_EPS_SUM: Final = float(np.finfo(np.longdouble).eps)  # 2^-63 on x86, 2^-52 where it is double
_PARAMS: Final = ("W", "b")


@dataclass(frozen=True)
class Located:
    """A wrong entry fast mode localized: where, the candidate's value, and the directional
    difference along that entry alone (≈ dJ/dθ there), with the tolerance it exceeds.

    ``index`` is None when the block fails but neither half of it does on its own (several
    wrong entries sharing the discrepancy); ``observed`` and ``expected`` are then the block's
    g·v and D.
    """

    layer: int
    param: str
    index: tuple[int, ...] | None
    observed: float
    expected: float
    bound: float
    more_may_exist: bool

    @property
    def where(self) -> str:
        at = "" if self.index is None else "[" + ", ".join(map(str, self.index)) + "]"
        return f"layer {self.layer} d{self.param}{at}"

    @property
    def entry(self) -> Entry | None:
        """As a `harness.compare.Entry` (None for a block-level finding)."""
        if self.index is None:
            return None
        delta = abs(self.observed - self.expected)
        return Entry(self.index, self.observed, self.expected, delta, self.bound)

    def __str__(self) -> str:
        delta = abs(self.observed - self.expected)
        if self.index is None:
            text = (
                f"{self.where}: g·v {self.observed:.6g} but the directional difference is "
                f"{self.expected:.6g} (|Δ| {delta:.1e} > bound {self.bound:.1e}); no half of "
                f"it fails alone: several wrong entries"
            )
        else:
            text = (
                f"{self.where}: candidate {self.observed:.6g} but the directional difference "
                f"along that entry is {self.expected:.6g} (|Δ| {delta:.1e} > bound "
                f"{self.bound:.1e})"
            )
        if self.more_may_exist:
            text += f"; more wrong entries may exist in layer {self.layer} d{self.param}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "param": self.param,
            "index": None if self.index is None else list(self.index),
            "observed": self.observed,
            "expected": self.expected,
            "bound": self.bound,
            "more_may_exist": self.more_may_exist,
        }


@dataclass(frozen=True)
class FastResult:
    """The fast verdict: one random direction, and on failure the entries group testing found.

    ``observed`` is g·v, ``expected`` the directional difference D, ``tolerance`` what they
    may differ by; ``evaluations`` counts directional differences (the first one included);
    ``seconds`` excludes the candidate's call.
    """

    passed: bool
    undecidable: bool
    observed: float
    expected: float
    tolerance: float
    located: tuple[Located, ...]
    evaluations: int
    seconds: float
    seed: int

    @property
    def summary(self) -> str:
        delta = abs(self.observed - self.expected)
        numbers = (
            f"g·v {self.observed:.6g}, directional difference {self.expected:.6g}, "
            f"|Δ| {delta:.1e} vs tolerance {self.tolerance:.1e}"
        )
        if self.undecidable:
            return f"fast check undecidable: the step crosses a ReLU-type kink ({numbers})"
        if self.passed:
            return (
                f"fast check passed: one random ±1 direction (seed {self.seed}) agrees "
                f"({numbers}); a single wrong entry beyond the tolerance is always seen, "
                f"several may cancel"
            )
        found = "; ".join(str(x) for x in self.located) or "no single block fails alone"
        return (
            f"fast check failed ({numbers}); localized in {self.evaluations} directional "
            f"differences: {found}"
        )

    def as_dict(self, with_time: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "undecidable": self.undecidable,
            "observed": self.observed,
            "expected": self.expected,
            "tolerance": self.tolerance,
            "located": [x.as_dict() for x in self.located],
            "evaluations": self.evaluations,
            "seed": self.seed,
        }
        if with_time:
            out["seconds"] = self.seconds
        return out


def gradients_of(output: Any, problem: Problem) -> list[tuple[Array, Array]]:
    """The candidate's ``[(dW, db), ...]`` checked for count, type, dtype, shape and
    finiteness; raises a `HarnessError` subclass naming the first problem."""
    shapes = problem.spec.param_shapes
    if isinstance(output, np.ndarray) or not isinstance(output, Sequence):
        raise HarnessError(f"gradients must be a list of {len(shapes)} (dW, db) pairs, got "
                           f"{type(output).__name__}")  # fmt: skip
    if len(output) != len(shapes):
        raise HarnessError(f"got {len(output)} layer(s) of gradients, expected {len(shapes)}")
    grads = []
    for l, (pair, pair_shapes) in enumerate(zip(output, shapes), start=1):
        if isinstance(pair, np.ndarray) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise HarnessError(f"layer {l}: expected a pair (dW{l}, db{l}), got {pair!r:.60}")
        for param, value, shape in zip(_PARAMS, pair, pair_shapes):
            where = f"layer {l} d{param}"
            if type(value) is not np.ndarray or value.dtype != np.float64:
                got = getattr(value, "dtype", type(value).__name__)
                raise ArrayDtypeError(f"{where}: expected a float64 numpy.ndarray, got {got}")
            if value.shape != shape:
                raise ArrayShapeError(f"{where}: shape {value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise NonFiniteError(f"{where}: has non-finite entries")
        grads.append((pair[0], pair[1]))
    return grads


@dataclass(frozen=True)
class _Block:
    """One (layer, tensor): its entries flat (row-major), v and tol_e, and range sums."""

    layer: int  # 0-based
    k: int  # 0: W, 1: b
    g: Array
    v: Array
    tol: Array

    @classmethod
    def of(cls, layer: int, k: int, g: Array, v: Array, tol: Array) -> _Block:
        return cls(layer, k, g.ravel(), v.ravel(), tol.ravel())

    @cached_property
    def _prefix(self) -> tuple[Array, Array, Array]:
        """Prefix sums of g·v, |g| and tol_e in extended precision (built on a failure)."""
        x = np.stack([self.g * self.v, np.abs(self.g), self.tol]).astype(np.longdouble)
        zero = np.zeros((3, 1), dtype=np.longdouble)
        gv, g_abs, tol = np.concatenate([zero, np.cumsum(x, axis=1)], axis=1)
        return gv, g_abs, tol

    def total(self) -> tuple[float, float]:
        """`sums` over the whole block, without prefix sums."""
        x = np.stack([self.g * self.v, np.abs(self.g), self.tol]).astype(np.longdouble)
        gv, g_abs, tol = x.sum(axis=1)
        n = self.g.size
        rounding = _EPS_SUM * n * float(g_abs + tol)
        return float(gv), float(tol) + rounding + float(np.spacing(abs(gv)) + np.spacing(tol))

    def sums(self, lo: int, hi: int) -> tuple[float, float]:
        """(Σ g_e v_e over [lo, hi), Σ tol_e + the rounding of both sums there). A prefix sum
        to index i in precision u is off by at most i u Σ|x|; the conversion by half an ulp."""
        gv_prefix, g_abs, tol_prefix = self._prefix
        gv = float(gv_prefix[hi] - gv_prefix[lo])
        tol = float(tol_prefix[hi] - tol_prefix[lo])
        rounding = _EPS_SUM * (lo + hi + 2) * float(g_abs[hi] + tol_prefix[hi])
        return gv, tol + rounding + float(np.spacing(abs(gv)) + np.spacing(tol))

    def direction(
        self, depth: int, lo: int, hi: int, shapes: Sequence[tuple[int, ...]]
    ) -> list[tuple[Array, Array] | None]:
        """v restricted to entries [lo, hi) of this block, zero elsewhere."""
        W_shape, b_shape = shapes
        flat = np.zeros(self.v.size)
        flat[lo:hi] = self.v[lo:hi]
        pair = (
            (flat.reshape(W_shape), np.zeros(b_shape))
            if self.k == 0
            else (np.zeros(W_shape), flat.reshape(b_shape))
        )
        direction: list[tuple[Array, Array] | None] = [None] * depth
        direction[self.layer] = pair
        return direction


def fast_check(
    candidate: Callable[..., Any] | Sequence[tuple[Array, Array]],
    problem: Problem,
    *,
    seed: int = 0,
) -> FastResult:
    """Fast-check a backprop (a callable following the plug-in contract, or its output
    ``[(dW1, db1), ...]``) on ``problem``: one random direction, group testing on failure.

    The candidate is called once on copies of the problem's arrays; what it raises propagates.
    Malformed gradients raise a `HarnessError` (`harness.audit.check` with ``mode="fast"``
    turns them into findings instead).
    """
    if not isinstance(problem, Problem):
        raise HarnessError(f"problem must be a harness.Problem, got {type(problem).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise HarnessError(f"seed must be an int, got {seed!r}")
    if callable(candidate):
        spec = problem.spec
        params = [(np.array(W), np.array(b)) for W, b in problem.params]
        candidate = candidate(params, np.array(problem.X), np.array(problem.Y),
                              list(spec.activations), spec.loss)  # fmt: skip
    grads = gradients_of(candidate, problem)
    start = time.perf_counter()
    result = _fast(grads, problem, int(seed))
    seconds = time.perf_counter() - start
    return FastResult(*result, seconds=seconds, seed=int(seed))


def _fast(
    grads: list[tuple[Array, Array]], problem: Problem, seed: int
) -> tuple[bool, bool, float, float, float, tuple[Located, ...], int]:
    tol = backprop_bound(problem, closed_form.magnitudes(problem))
    rng = np.random.default_rng(seed)
    shapes = problem.spec.param_shapes
    v = [(_rademacher(rng, W_shape), _rademacher(rng, b_shape)) for W_shape, b_shape in shapes]
    blocks = [
        _Block.of(l, k, grads[l][k], v[l][k], tol[l][k])
        for l in range(problem.spec.depth)
        for k in (0, 1)
    ]
    net = directional.prepare(problem)
    full = directional.along(net, [v])
    evaluations = 1
    observed, tolerance = 0.0, 0.0
    for block in blocks:
        gv, t = block.total()
        observed += gv
        tolerance += t
    expected = float(full.value[0])
    tolerance += float(full.bound[0]) + 4.0 * float(np.spacing(abs(observed) + abs(expected)))
    numbers = (observed, expected, tolerance)
    if bool(full.undecidable[0]):
        return False, True, *numbers, (), evaluations
    if abs(observed - expected) <= tolerance:
        return True, False, *numbers, (), evaluations
    depth = problem.spec.depth
    per_block = directional.along(
        net, [b.direction(depth, 0, b.g.size, shapes[b.layer]) for b in blocks]
    )
    evaluations += len(blocks)
    located = []
    for block, D, bound, unsure in zip(
        blocks, per_block.value, per_block.bound, per_block.undecidable
    ):
        gv, t = block.total()
        if not unsure and _fails(gv, float(D), t + float(bound)):
            whole = (gv, float(D), t + float(bound))
            found, used = _halve(net, block, shapes[block.layer], depth, whole)
            located.append(found)
            evaluations += used
    return False, False, *numbers, tuple(located), evaluations


def _rademacher(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Entries ±1 with probability 1/2 each."""
    return np.where(rng.integers(0, 2, size=shape) == 1, 1.0, -1.0)


def _fails(observed: float, expected: float, tolerance: float) -> bool:
    return abs(observed - expected) > tolerance + float(np.spacing(abs(observed - expected)))


def _halve(
    net: directional.Network,
    block: _Block,
    shapes: tuple[tuple[int, ...], ...],
    depth: int,
    whole: tuple[float, float, float],
) -> tuple[Located, int]:
    """Follow a failing half down to one entry of ``block``."""
    lo, hi = 0, block.g.size
    current, more, used = whole, False, 0
    shape = shapes[block.k]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        halves = ((lo, mid), (mid, hi))
        halved = directional.along(net, [block.direction(depth, a, b, shapes) for a, b in halves])
        used += 2
        tests = []
        for (a, b), value, bound, unsure in zip(
            halves, halved.value, halved.bound, halved.undecidable
        ):
            gv, t = block.sums(a, b)
            tests.append(((a, b), (gv, float(value), t + float(bound)), bool(unsure)))
        failing = [x for x in tests if not x[2] and _fails(*x[1])]
        if not failing:
            observed, expected, bound = current
            located = Located(block.layer + 1, _PARAMS[block.k], None, observed, expected,
                              bound, True)  # fmt: skip
            return located, used
        more |= len(failing) == 2
        (lo, hi), current, _ = max(failing, key=lambda x: abs(x[1][0] - x[1][1]) / x[1][2])
    gv, D, bound = current
    rest = (whole[0] - gv, whole[1] - D, whole[2] + bound)
    more |= _fails(*rest)
    sign = float(block.v[lo])
    index = tuple(int(i) for i in np.unravel_index(lo, shape))
    located = Located(block.layer + 1, _PARAMS[block.k], index, float(block.g[lo]), sign * D,
                      bound, more)  # fmt: skip
    return located, used
