"""Fast mode: one random direction instead of every entry; group testing finds a wrong entry.

Detect. After the candidate's output is fixed, draw a Rademacher direction v (every entry ±1,
from ``numpy.random.default_rng(seed)``). Cut every (layer, tensor) block of θ into dyadic
pieces S (below) and test each piece on its own: the candidate's g·v_S against the
directional central difference D_S ≈ ∇J·v_S of `harness.sources.directional` along v
restricted to S, all pieces in one batched pass. The piece passes when

    |g·v_S - D_S| <= λ sqrt(Σ_(e∈S) tol_e²) + bound(D_S) + the rounding of g·v_S and of the sum,

with tol_e the error model's per-entry bound (`harness.tolerance`, as in the full check).

Why λ sqrt(Σ tol²), and which λ. A correct float64 backprop has errors e_e = g_e - ∂J/∂θ_e
with |e_e| <= tol_e, and they are fixed before v is drawn. Then Σ_S e_e v_e is a sum of
independent, zero-mean terms in [-tol_e, tol_e], and Hoeffding's inequality gives

    P(|Σ_(e∈S) e_e v_e| > λ sqrt(Σ_(e∈S) tol_e²)) <= 2 exp(-λ²/2)

for each fixed set S. g·v_S - D_S is that sum plus D_S's error (at most bound(D_S), for every v)
plus rounding (bounded deterministically), so a correct candidate fails the test of S only on
that event. The sets a fast check can ever test are fixed in advance: the nodes of each block's
halving tree (entries in row-major order, [lo, hi) split at (lo + hi) // 2: 2n - 1 nodes for a
block of n entries; the first pieces are nodes too) and, after a localization, a node minus
the one entry found (n more). With N = Σ_blocks (3n - 1) < 3P sets, a union bound puts the
probability that *any* test of a fast check fails on a correct backprop at N · 2 exp(-λ²/2),
so λ = sqrt(2 ln(2N / 1e-12)) keeps the false-alarm probability of the whole check <= 1e-12,
whatever the check's adaptive choices (λ ≈ 8.9 for arch E's P = 26,506). No whole-vector test
is made: a single wrong entry is seen at least as well by its own piece (whose tolerance is
smaller), and the union bound would only grow.

The first pieces. Each block starts as one piece; then the piece with the largest
sqrt(Σ tol²) is halved, until there are `_PIECES_PER_BLOCK` pieces per block: the pieces'
tolerances are evened out where they were widest (on arch E, layer 1 dW and layer 3 dW).
More pieces catch smaller errors and cost one directional difference each.

Localize. Each failing piece is halved: the first half is measured, the second half's D is
the piece's D minus it (∇J·v is linear in v; the two bounds add), each half tested with its own
tolerance, and the failing half followed down to one entry: one directional difference per
level. When both halves fail, or the piece minus the entry found still fails, more wrong
entries may exist; when neither half fails alone, the piece is reported without an index.

What it can catch. A single entry off by δ is seen when |δ| exceeds its piece's tolerance plus
the rest of the piece's actual error, which stays below λ sqrt(Σ tol²) except with probability
2 exp(-λ²/2): so |δ| > 2 · tolerance always suffices, and for a float64 backprop, whose actual
errors are far below tol_e, |δ| > tolerance does. A piece's tolerance is λ sqrt(Σ tol_e²) over
its entries plus the directional difference's own bound; on arch E tol_e is ~2e-13 of an entry
(median; `harness.tolerance`), so the directional bound often dominates: what that catches,
tensor by tensor, is in the README's Fast mode section (tests/bench/sensitivity.py measures it).
"""

from __future__ import annotations

import heapq
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Final

import numpy as np

from harness.compare import Entry, Rules
from harness.errors import ArrayDtypeError, ArrayShapeError, HarnessError, NonFiniteError
from harness.network import Array
from harness.sources import directional
from harness.spec import Problem
from harness.threads import one_blas_thread
from harness.tolerance import candidate_bound

__all__ = [
    "FALSE_ALARM",
    "FastResult",
    "Located",
    "false_alarm_lambda",
    "fast_check",
    "gradients_of",
]

_EPS_SUM: Final = float(np.finfo(np.longdouble).eps)  # 2^-63 on x86, 2^-52 where it is double
_EPS64: Final = float(np.finfo(np.float64).eps)
_PARAMS: Final = ("W", "b")
#: The false-alarm probability of one whole fast check on a correct backprop (module doc).
FALSE_ALARM: Final = 1e-12
#: First pieces per (layer, tensor) block (module doc).
_PIECES_PER_BLOCK: Final = 4


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
    """The fast verdict: one random direction tested in pieces, and on failure the entries
    group testing found.

    ``observed`` (g·v_S), ``expected`` (the directional difference D_S) and ``tolerance`` are
    those of the piece ``worst`` that came closest to its tolerance (or exceeded it most), out
    of ``pieces`` first pieces; ``evaluations`` counts directional differences (the first
    pieces included); ``seconds`` excludes the candidate's call.
    """

    passed: bool
    undecidable: bool
    observed: float
    expected: float
    tolerance: float
    worst: str
    pieces: int
    located: tuple[Located, ...]
    evaluations: int
    seconds: float
    seed: int

    @property
    def summary(self) -> str:
        delta = abs(self.observed - self.expected)
        numbers = (
            f"closest to its tolerance: {self.worst}, g·v {self.observed:.6g}, directional "
            f"difference {self.expected:.6g}, |Δ| {delta:.1e} vs tolerance {self.tolerance:.1e}"
        )
        if self.undecidable:
            return f"fast check undecidable: a step crosses a ReLU-type kink ({numbers})"
        if self.passed:
            return (
                f"fast check passed: one random ±1 direction (seed {self.seed}) agrees on all "
                f"{self.pieces} pieces ({numbers}); false-alarm probability <= {FALSE_ALARM:.0e}; "
                f"a single wrong entry beyond its piece's tolerance is seen, several may cancel"
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
            "worst": self.worst,
            "pieces": self.pieces,
            "located": [x.as_dict() for x in self.located],
            "evaluations": self.evaluations,
            "seed": self.seed,
        }
        if with_time:
            out["seconds"] = self.seconds
        return out


def gradients_of(
    output: Any, problem: Problem, dtypes: tuple[type[np.floating[Any]], ...] = (np.float64,)
) -> list[tuple[Array, Array]]:
    """The candidate's ``[(dW, db), ...]`` checked for count, type, dtype (one of ``dtypes``),
    shape and finiteness, as float64; raises a `HarnessError` subclass naming the first
    problem."""
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
            if type(value) is not np.ndarray or value.dtype not in dtypes:
                got = getattr(value, "dtype", type(value).__name__)
                wanted = " or ".join(np.dtype(t).name for t in dtypes)
                raise ArrayDtypeError(f"{where}: expected a {wanted} numpy.ndarray, got {got}")
            if value.shape != shape:
                raise ArrayShapeError(f"{where}: shape {value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise NonFiniteError(f"{where}: has non-finite entries")
        grads.append((pair[0].astype(np.float64), pair[1].astype(np.float64)))
    return grads


def false_alarm_lambda(problem: Problem, probability: float = FALSE_ALARM) -> float:
    """λ with N · 2 exp(-λ²/2) = ``probability``, N the number of sets a fast check of
    ``problem`` can test (see the module doc)."""
    sizes = [int(np.prod(shape)) for pair in problem.spec.param_shapes for shape in pair]
    N = sum(3 * n - 1 for n in sizes)
    return math.sqrt(2.0 * math.log(2.0 * N / probability)) * (1.0 + 1e-12)


@dataclass(frozen=True)
class _Block:
    """One (layer, tensor): its entries flat (row-major), v and tol_e, and range sums."""

    layer: int  # 0-based
    k: int  # 0: W, 1: b
    shapes: tuple[tuple[int, ...], ...]  # (W's, b's) of this layer
    g: Array
    v: Array
    tol: Array

    @cached_property
    def _prefix(self) -> tuple[Array, Array, Array]:
        """Prefix sums of g·v, |g| and tol_e² in extended precision."""
        x = np.stack([self.g * self.v, np.abs(self.g), self.tol]).astype(np.longdouble)
        x[2] **= 2  # squared in extended precision: no float64 rounding or underflow
        zero = np.zeros((3, 1), dtype=np.longdouble)
        gv, g_abs, tol2 = np.concatenate([zero, np.cumsum(x, axis=1)], axis=1)
        return gv, g_abs, tol2

    def sums(self, lo: int, hi: int, minus: int | None = None) -> tuple[float, float, float]:
        """Over [lo, hi) (without entry ``minus``): Σ g_e v_e, an upper bound on
        sqrt(Σ tol_e²), and the rounding of the first. A prefix sum to index i in precision u
        is off by at most i u Σ|x|; each conversion to float64 by an ulp."""
        gv_prefix, g_abs, tol2_prefix = self._prefix
        gv = gv_prefix[hi] - gv_prefix[lo]
        tol2 = tol2_prefix[hi] - tol2_prefix[lo]
        if minus is not None:
            gv -= self.g[minus] * self.v[minus]
            tol2 -= np.longdouble(self.tol[minus]) ** 2
        count = lo + hi + 4
        tol2 += _EPS_SUM * count * tol2_prefix[hi]
        sigma = math.sqrt(max(float(tol2), 0.0)) * (1.0 + 4.0 * _EPS64)
        rounding = _EPS_SUM * count * float(g_abs[hi]) + float(np.spacing(abs(float(gv))))
        return float(gv), sigma, rounding

    def direction(self, depth: int, lo: int, hi: int) -> list[tuple[Array, Array] | None]:
        """v restricted to entries [lo, hi) of this block, zero elsewhere."""
        W_shape, b_shape = self.shapes
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

    def where(self, lo: int, hi: int) -> str:
        return f"layer {self.layer + 1} d{_PARAMS[self.k]} entries {lo}:{hi} (row-major)"


@dataclass(frozen=True)
class _Test:
    """One piece [lo, hi) of a block against its directional difference D (bound ``D_bound``)."""

    block: _Block
    lo: int
    hi: int
    D: float
    D_bound: float
    undecidable: bool
    lam: float
    minus: int | None = None

    @cached_property
    def numbers(self) -> tuple[float, float, float]:
        """(g·v_S, D_S, tolerance)."""
        gv, sigma, rounding = self.block.sums(self.lo, self.hi, self.minus)
        tolerance = self.lam * sigma + self.D_bound + rounding
        return gv, self.D, tolerance + float(np.spacing(tolerance))

    @property
    def ratio(self) -> float:
        gv, D, tolerance = self.numbers
        delta = abs(gv - D)
        return delta / tolerance if tolerance > 0 else (math.inf if delta > 0 else 0.0)

    @property
    def fails(self) -> bool:
        gv, D, tolerance = self.numbers
        return not self.undecidable and abs(gv - D) > tolerance + float(np.spacing(abs(gv - D)))


def direction_seed(seed: int | None, what: str = "seed") -> int:
    """The seed of v: ``seed`` itself, or 32 bits from the OS when None (see `fast_check`)."""
    if seed is None:
        return secrets.randbits(32)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise HarnessError(f"{what} must be a non-negative int or None, got {seed!r}")
    return int(seed)


def fast_check(
    candidate: Callable[..., Any] | Sequence[tuple[Array, Array]],
    problem: Problem,
    *,
    seed: int | None = None,
    precision: str = "float64",
) -> FastResult:
    """Fast-check a backprop (a callable following the plug-in contract, or its output
    ``[(dW1, db1), ...]``) on ``problem``: one random direction in pieces, group testing on
    failure.

    The candidate is called once, in a worker process, on copies of the problem's arrays, before
    v is drawn; if it raises, times out or crashes, a `HarnessError` says so. Malformed
    gradients raise a `HarnessError` (`harness.check` with ``mode="fast"`` turns them into
    findings instead). ``seed`` (of v) defaults to 32 bits from the OS, kept in
    ``FastResult.seed``: a fixed, public seed would let a candidate place errors that cancel
    along the one direction checked.
    """
    if not isinstance(problem, Problem):
        raise HarnessError(f"problem must be a harness.Problem, got {type(problem).__name__}")
    seed = direction_seed(seed)
    if callable(candidate):
        candidate = _called(candidate, problem)
    grads = gradients_of(candidate, problem, Rules(precision).dtypes)
    start = time.perf_counter()
    with one_blas_thread():  # dozens of small GEMMs: see harness.threads
        result = _fast(grads, problem, seed, precision)
    seconds = time.perf_counter() - start
    return FastResult(*result, seconds=seconds, seed=seed)


def _called(backward: Callable[..., Any], problem: Problem) -> Any:
    """The output of one call of ``backward`` in a worker process (`harness.candidate`)."""
    from harness.candidate import as_candidate, call_candidate  # the boundary, when needed

    call = call_candidate(as_candidate(backward), problem, repeat=False, unsupported_ok=False)
    if call.output is None:
        raise HarnessError(call.records[0].detail)
    return call.output


def _fast(
    grads: list[tuple[Array, Array]], problem: Problem, seed: int, precision: str
) -> tuple[bool, bool, float, float, float, str, int, tuple[Located, ...], int]:
    tol = candidate_bound(problem, precision)
    rng = np.random.default_rng(seed)  # drawn after the candidate's output is fixed
    shapes = problem.spec.param_shapes
    depth = problem.spec.depth
    v = [(_rademacher(rng, W_shape), _rademacher(rng, b_shape)) for W_shape, b_shape in shapes]
    blocks = [
        _Block(l, k, shapes[l], grads[l][k].ravel(), v[l][k].ravel(), tol[l][k].ravel())
        for l in range(depth)
        for k in (0, 1)
    ]
    lam = false_alarm_lambda(problem)
    pieces = _first_pieces(blocks)
    first = directional.along(net := directional.prepare(problem),
                              [b.direction(depth, lo, hi) for b, lo, hi in pieces])  # fmt: skip
    tests = [
        _Test(b, lo, hi, float(D), float(bound), bool(unsure), lam)
        for (b, lo, hi), D, bound, unsure in zip(
            pieces, first.value, first.bound, first.undecidable
        )
    ]
    evaluations = len(tests)
    worst = max(tests, key=lambda x: x.ratio)
    numbers = (*worst.numbers, worst.block.where(worst.lo, worst.hi), len(tests))
    failing = [x for x in tests if x.fails]
    if not failing:
        undecidable = any(x.undecidable for x in tests)
        return not undecidable, undecidable, *numbers, (), evaluations
    located = []
    for test in failing:
        found, used = _halve(net, test, depth)
        located.append(found)
        evaluations += used
    return False, False, *numbers, tuple(located), evaluations


def _first_pieces(blocks: list[_Block]) -> list[tuple[_Block, int, int]]:
    """Every block, then the piece with the widest sqrt(Σ tol²) halved until there are
    `_PIECES_PER_BLOCK` per block (nodes of the halving trees, in block order)."""
    heap = [(-b.sums(0, b.g.size)[1], i, 0, b.g.size) for i, b in enumerate(blocks)]
    heapq.heapify(heap)
    done: list[tuple[int, int, int]] = []
    while heap and len(heap) + len(done) < _PIECES_PER_BLOCK * len(blocks):
        _, i, lo, hi = heapq.heappop(heap)
        if hi - lo == 1:
            done.append((i, lo, hi))
            continue
        for a, b in ((lo, (lo + hi) // 2), ((lo + hi) // 2, hi)):
            heapq.heappush(heap, (-blocks[i].sums(a, b)[1], i, a, b))
    pieces = sorted(done + [(i, lo, hi) for _, i, lo, hi in heap])
    return [(blocks[i], lo, hi) for i, lo, hi in pieces]


def _rademacher(rng: np.random.Generator, shape: tuple[int, ...]) -> Array:
    """Entries ±1 with probability 1/2 each."""
    return np.where(rng.integers(0, 2, size=shape) == 1, 1.0, -1.0)


def _halve(net: directional.Network, piece: _Test, depth: int) -> tuple[Located, int]:
    """Follow a failing half of ``piece`` down to one entry: the first half is measured, the
    second is the piece minus the first (one directional difference per level)."""
    block, lam = piece.block, piece.lam
    current, more, used = piece, False, 0
    while current.hi - current.lo > 1:
        lo, hi = current.lo, current.hi
        mid = (lo + hi) // 2
        measured = directional.along(net, [block.direction(depth, lo, mid)])
        used += 1
        D, bound = float(measured.value[0]), float(measured.bound[0])
        unsure = bool(measured.undecidable[0]) or current.undecidable
        rest = current.D - D
        halves = (
            _Test(block, lo, mid, D, bound, unsure, lam),
            _Test(block, mid, hi, rest, current.D_bound + bound + float(np.spacing(rest)),
                  unsure, lam),
        )  # fmt: skip
        failing = [x for x in halves if x.fails]
        if not failing:
            observed, expected, tolerance = current.numbers
            located = Located(block.layer + 1, _PARAMS[block.k], None, observed, expected,
                              tolerance, True)  # fmt: skip
            return located, used
        more |= len(failing) == 2
        current = max(failing, key=lambda x: x.ratio)
    entry = current.lo
    others = replace(
        piece,
        D=piece.D - current.D,
        D_bound=piece.D_bound + current.D_bound + float(np.spacing(piece.D - current.D)),
        undecidable=False,
        minus=entry,
    )
    more |= piece.hi - piece.lo > 1 and others.fails
    observed, expected, tolerance = current.numbers
    sign = float(block.v[entry])
    index = tuple(int(i) for i in np.unravel_index(entry, block.shapes[block.k]))
    located = Located(block.layer + 1, _PARAMS[block.k], index, float(block.g[entry]),
                      sign * expected, tolerance, more)  # fmt: skip
    return located, used
