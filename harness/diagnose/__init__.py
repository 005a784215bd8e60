"""Name the pattern of a wrong gradient tensor: "looks transposed", "scaled by 1/m = 0.25", ...

For each tensor `harness.compare` found wrong, `diagnose` tries hypotheses H about how the
candidate got its values. H *matches* when ``|candidate - H|`` is within MATCH_FACTOR tolerances
on every entry **and** the truth is not (a hypothesis too loose to tell the bug from the truth
names nothing). The truth is SymPy's gradient, the 50-digit one when there is one. The first match
names the tensor; a tensor none matches is left out (the caller says "no known pattern").

The truth is dJ/dθ of ``J = Σ_i C_i / divisor + (l2/2)·Σ_l ‖W^(l)‖²`` (DESIGN.md): the *loss
term* of a dW is the truth minus ``l2·W``; a db has no other term.

Precedence, cheap and specific first:

1. ``sign-flipped``: -truth. Before any factor, so a factor -1 is never "scaled by -1".
2. ``scaled`` by a named factor: 1/m, m, 2, 1/2, n_L, 1/n_L, then their negatives, then the
   ratios between the declared loss convention and the others (``Loss(name, half, reduction)``:
   e.g. 1/(m·n_L) for a sum declared, a mean over every entry written). Names that coincide on
   a problem are reported together ("scaled by m = 2"). A factor that turns the declared
   convention into another one says so: "scaled by 1/2: a ½·MSE convention? declare
   Loss('mse', half=True)" (a candidate scaled by 1/2 against plain mse is the ½·MSE
   gradient; the reverse, 2 against a declared ½, is mse without the ½), n_L and 1/n_L name
   the reduction ('mean' / 'elementwise_mean'); 1/m or 1/(m·n_L) a declared 'sum'. No convention
   is suggested for m against a mean: that is the classic missing 1/m, and a sum over samples is
   only proposed when it is what was declared. With ``l2 > 0`` a dW is scaled as a whole first,
   then in its loss term only ("loss term scaled by m = 5 (l2·W right)": dscores without /N).
3. ``l2-missing`` (candidate = truth - l2·W) and ``l2-halved`` (truth - ½·l2·W: the ½ of
   (l2/2)·‖W‖² kept), on a dW with l2 > 0 whose loss term is not zero.
4. ``transposed``: truth.T, or truth.T reshaped into W's shape (the rows-as-samples
   ``A_prev @ dJ_dZ.T``). A W with one row or column reads the same either way; on a symmetric
   truth the truth itself matches, so neither is ever called transposed.
5. ``reversed-layers``: layer l holds the truth of layer L+1-l (same shape, l != L+1-l).
6. ``single-entry``: exactly one entry off, in a tensor of more than one; before float32, so one
   entry off by 1e-6 is not called a precision problem.
7. ``float32-precision``: max |Δ| within [FLOAT32_LOWEST, FLOAT32_FACTOR] times (plus float32's
   underflow threshold) the largest error of this module's backprop run in float32: with both
   usual forms of sigmoid' and tanh', on the inputs and on inputs jittered by ±eps32. (The
   float64 bound times 2**29 is a worst case: 1e-3 relative noise would pass as float32.)
8. Mutant backprops, re-computed here with one bug: ``missing-activation-derivative`` (g'_k := 1),
   ``derivative-at-activation`` (g'_k(A_k)), ``wrong-activation-derivative`` (a common
   mistyping of the layer's own g' — silu' as σ(z), gelu' as Φ(z), elu' without the + 1 on the
   negative side, a leaky_relu(α)' with another usual slope (named), softmax's Jacobian taken as
   its diagonal a(1 - a) — then another activation's g' at Z_k; identity' is "missing"),
   ``layer-shifted`` (the backward sum into layer k with W_k or W_(k+2) for W_(k+1); g'_k at a
   neighbour's Z, or the neighbour's g'(Z); dW_k with A_k or A_(k-2) for A_(k-1)), in that
   order. Each is tried at one layer, then at every layer it applies to (a bug written once in
   the loop: g'(A) everywhere, a wrong sigmoid' wherever there is a sigmoid). ``layer`` is the
   topmost mutated layer the tensor depends on; the text names all of them. A softmax layer's
   g' is not elementwise: only "missing" and its mistypings replace it.
9. ``l2-mismatch``: candidate = truth + c·W for a constant c (least squares) on a dW: a weight
   decay λ = l2 + c where l2 was declared (left in with l2 = 0, or another λ).
10. ``scaled`` by any other constant (least squares), last: a mutant that acts as a constant
    (missing g' of a leaky_relu layer whose z are all negative) is the more specific name.

A tensor whose candidate values or whose truth are all zero (within the tolerance) gets no name
at all: too many hypotheses fit it (a layer skipped, "scaled by 0", a relu' that vanishes on
every sample, the zero gradient of a mirrored layer). Say nothing rather than guess. Likewise a
least-squares factor (10) within `MEANINGFUL` (relative) of ±1 or of a named factor already
tried names nothing: "scaled by 0.99999999999" is no pattern.

Diagnoses taken on a small net (a shrunk 1×1 case) are guesses where hypotheses coincide there.
`harness.diagnose.confirm` checks each name on a problem with every hidden width and the batch
≥ 3: a name is kept only if the same hypothesis is found there again.

Tolerances: hypotheses built from the truth use the per-entry float64 backprop bound
(`SourceValues.backprop`), moved with the entries (transposed, reversed), times max(1, |f|) for a
factor f, plus a few ulps of the l2·W term a hypothesis adds or removes. A mutant adds
``MUTANT_SLACK * max|H|`` for its own rounding, which that bound does not cover.

The package: the hypotheses in order (here), `factors` (named factors and the loss conventions
they point at), `derivatives` (g' and its mistypings, written here: a closed set that raises on
an unknown name; only the activations' forward definition is shared), `chain` (the correct
backprop in float64 or float32), `mutants` (that backprop with one bug) and `confirm` (a name
kept only if it is found again at a non-degenerate size).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from harness.compare import SourceValues
from harness.diagnose.chain import Chain
from harness.diagnose.derivatives import G_PRIME, G_PRIME_ALT
from harness.diagnose.factors import fmt_factor, named_factors
from harness.diagnose.mutants import Mutant, mutants
from harness.network import Array
from harness.spec import Problem

__all__ = ["PATTERNS", "Diagnosis", "diagnose"]

PATTERNS: Final = (
    "transposed", "scaled", "sign-flipped", "missing-activation-derivative",
    "derivative-at-activation", "wrong-activation-derivative", "layer-shifted",
    "reversed-layers", "float32-precision", "single-entry", "l2-missing", "l2-halved",
    "l2-mismatch",
)  # fmt: skip
#: A hypothesis matches when every |candidate - H| is within this many tolerances.
MATCH_FACTOR: Final = 2.0
#: A mutant's own float64 rounding: this times max|H|, added to the tolerance.
MUTANT_SLACK: Final = 1e-9
#: float32-precision: max |Δ| between these multiples of the worst float32 replica's.
FLOAT32_LOWEST: Final = 1e-4
FLOAT32_FACTOR: Final = 8.0
#: float32 runs per form of g' that sample float32's error (inputs jittered after the first).
FLOAT32_REPLICAS: Final = 2
#: A least-squares factor this close (relative) to ±1 or to a named factor is no pattern.
MEANINGFUL: Final = 1e-6
_EPS64: Final = float(np.finfo(np.float64).eps)
_TINY32: Final = float(np.finfo(np.float32).tiny)  # below it float32 underflows


@dataclass(frozen=True)
class Diagnosis:
    """A named pattern for one wrong tensor.

    ``text`` completes "layer 2 dW: 12/12 entries wrong, <text>". ``layer`` is the layer a
    network-level hypothesis blames (None for tensor-level ones), ``factor`` the scale (-1 for
    sign-flipped; for l2-* patterns the weight decay λ the candidate used), ``index`` the single
    wrong entry, ``function`` the activation whose derivative is missing or misused (for
    wrong-activation-derivative: the one used instead, or the mistyped formula), ``names`` the
    names of a named factor (several where they coincide on the problem: ("m", "n_L")).
    """

    pattern: str
    text: str
    layer: int | None = None
    factor: float | None = None
    index: tuple[int, ...] | None = None
    function: str | None = None
    names: tuple[str, ...] = ()


def diagnose(
    problem: Problem,
    candidate: Sequence[tuple[Array, Array]],
    sources: SourceValues,
    wrong: Iterable[tuple[int, str]],
) -> dict[tuple[int, str], Diagnosis]:
    """A Diagnosis for each wrong (layer, "W" | "b") that one named hypothesis explains."""
    wrong = list(wrong)
    diagnoser = _Diagnoser(problem, candidate, sources)
    # Top layer first: a mutant's dJ_dZ at layer l+1 is then one step from layer l.
    found = {key: diagnoser.tensor(*key) for key in sorted(wrong, key=lambda key: -key[0])}
    return {key: d for key in wrong if (d := found[key]) is not None}


@dataclass(frozen=True)
class _Tensor:
    C: Array  # the candidate's values
    T: Array  # the truth
    bound: Array  # the float64 backprop bound, per entry

    def within(self, H: Array, tol: Array | float) -> bool:
        return bool(np.all(np.abs(self.C - H) <= tol))

    def explained_by(self, H: Array, tol: Array | float) -> bool:
        """H matches within ``tol`` everywhere and the truth does not."""
        return self.within(H, tol) and not self.within(self.T, tol)


# --- the hypotheses, in order --------------------------------------------------------------------


class _Diagnoser:
    def __init__(
        self, problem: Problem, candidate: Sequence[tuple[Array, Array]], sources: SourceValues
    ):
        self.problem = problem
        self.candidate = candidate
        self.truth = sources.grads["symbolic_50" if "symbolic_50" in sources.grads else "symbolic"]
        self.bound = sources.backprop
        self.factors = named_factors(problem)
        self._chain: Chain | None = None  # built only when a mutant is needed
        self._replicas: list[Chain] = []  # float32 runs, built only when float32 is tried
        self._mutants: list[Mutant] = []
        self._dJ_dZ: dict[tuple[int, int], Array] = {}  # (mutant number, layer) -> dJ_dZ

    def tensor(self, l: int, param: str) -> Diagnosis | None:
        k = "Wb".index(param)
        C = np.asarray(self.candidate[l - 1][k], dtype=np.float64)
        t = _Tensor(C, self.truth[l - 1][k], self.bound[l - 1][k])
        if not np.all(np.isfinite(t.T)) or t.within(t.T, MATCH_FACTOR * t.bound):
            return None  # no truth to compare with, or not wrong at all
        zero = MATCH_FACTOR * t.bound
        if np.all(np.abs(t.C) <= zero) or np.all(np.abs(t.T) <= zero):
            return None  # all zero, candidate or truth: too many hypotheses fit
        with np.errstate(all="ignore"):
            if found := self._from_truth(t, l, k):
                return found
            decay = self._decay(l, k)
            return (
                self._from_mutants(t, l, param)
                or (_weight_decay(t, decay[0], self.problem.spec.l2) if decay else None)
                or _any_factor(t, [f.value for f in self.factors])
            )

    def _decay(self, l: int, k: int) -> tuple[Array, Array] | None:
        """(W^(l), l2·W^(l)) for a dW, None for a db."""
        if k != 0:
            return None
        W = np.asarray(self.problem.params[l - 1][0], dtype=np.float64)
        return W, self.problem.spec.l2 * W

    def _from_truth(self, t: _Tensor, l: int, k: int) -> Diagnosis | None:
        T, bound = t.T, t.bound
        if t.explained_by(-T, MATCH_FACTOR * bound):
            return Diagnosis("sign-flipped", "sign-flipped", factor=-1.0)
        found = self._scaled(t, l, k) or self._l2_named(t, l, k)
        if found:
            return found
        if k == 0 and min(T.shape) > 1:
            H, bound_H = T.T.reshape(T.shape), bound.T.reshape(T.shape)
            if t.explained_by(H, MATCH_FACTOR * bound_H):
                square = T.shape[0] == T.shape[1]
                how = "" if square else f" (dW.T, {T.shape[::-1]}, reshaped to {T.shape})"
                return Diagnosis("transposed", "looks transposed" + how)
        mirror = self.problem.spec.depth + 1 - l
        if mirror != l and self.truth[mirror - 1][k].shape == T.shape:
            H, bound_H = self.truth[mirror - 1][k], self.bound[mirror - 1][k]
            if t.explained_by(H, MATCH_FACTOR * bound_H):
                text = f"holds layer {mirror}'s gradient (layers returned in reverse order)"
                return Diagnosis("reversed-layers", text, layer=mirror)
        off = np.abs(t.C - T) > MATCH_FACTOR * bound
        if T.size > 1 and int(off.sum()) == 1:
            index = tuple(int(i) for i in np.argwhere(off)[0])
            text = f"single entry wrong at [{', '.join(map(str, index))}]"
            return Diagnosis("single-entry", text, index=index)
        float32_error, worst = self._float32_error(l, k), float(np.max(np.abs(t.C - T)))
        if FLOAT32_LOWEST * float32_error <= worst <= FLOAT32_FACTOR * float32_error + _TINY32:
            relative = worst / float(np.max(np.abs(T)))
            text = f"float32 precision (|Δ| ~ {relative:.0e} relative)"
            return Diagnosis("float32-precision", text)
        return None

    def _scaled(self, t: _Tensor, l: int, k: int) -> Diagnosis | None:
        """A named factor on the whole tensor, then (dW with l2 > 0) on its loss term only."""
        decay = self._decay(l, k) if self.problem.spec.l2 else None
        for f in self.factors:
            if t.explained_by(f.value * t.T, MATCH_FACTOR * max(1.0, abs(f.value)) * t.bound):
                # A convention scales the loss term only: no hint where an l2·W was scaled too.
                hint = f.hint if decay is None else ""
                return Diagnosis("scaled", f.text() + hint, factor=f.value, names=tuple(f.names))
        if decay is None:
            return None
        loss_term = t.T - decay[1]
        for f in self.factors:
            H = f.value * loss_term + decay[1]
            slack = 4.0 * _EPS64 * (np.abs(f.value * loss_term) + np.abs(decay[1]))
            if t.explained_by(H, MATCH_FACTOR * (max(1.0, abs(f.value)) * t.bound + slack)):
                text = f"loss term {f.text()} (l2·W right){f.hint}"
                return Diagnosis("scaled", text, factor=f.value, names=tuple(f.names))
        return None

    def _l2_named(self, t: _Tensor, l: int, k: int) -> Diagnosis | None:
        """dW without its l2·W, or with ½·l2·W: only where the loss term is not zero."""
        l2, decay = self.problem.spec.l2, self._decay(l, k)
        if not l2 or decay is None:
            return None
        W, l2_W = decay
        slack = 4.0 * _EPS64 * np.abs(l2_W)
        tol = MATCH_FACTOR * (t.bound + slack)
        if np.all(np.abs(t.T - l2_W) <= tol) or not np.any(W):
            return None  # a loss term of zero: "l2 missing" and "returns zero" look alike
        if t.explained_by(t.T - l2_W, tol):
            text = f"the L2 term l2·W is missing (l2 = {l2:g})"
            return Diagnosis("l2-missing", text, factor=0.0)
        if t.explained_by(t.T - 0.5 * l2_W, tol):
            text = (
                f"L2 gradient written as ½·l2·W: the ½ of (l2/2)·‖W‖² kept, d/dW is l2·W "
                f"(l2 = {l2:g})"
            )
            return Diagnosis("l2-halved", text, factor=0.5 * l2)
        return None

    def _float32_error(self, l: int, k: int) -> float:
        """The largest error of this module's backprop run in float32 (both forms of g')."""
        if not self._replicas:
            jitter = np.random.default_rng(0)
            self._replicas = [
                Chain(self.problem, np.float32, jitter if i else None, g_primes)
                for i in range(FLOAT32_REPLICAS)
                for g_primes in (G_PRIME, G_PRIME_ALT)
            ]
        errors = []
        for c in self._replicas:
            G32 = c.dJ_dW(l, c.dJ_dZ[l], c.A[l - 1]) if k == 0 else c.dJ_dZ[l].sum(axis=1)
            errors.append(float(np.max(np.abs(G32.astype(np.float64) - self.truth[l - 1][k]))))
        return max(errors)

    def _from_mutants(self, t: _Tensor, l: int, param: str) -> Diagnosis | None:
        if self._chain is None:
            self._chain = Chain(self.problem)
            self._mutants = mutants(self._chain)
        c = self._chain
        for number, mutant in enumerate(self._mutants):
            layers = mutant.relevant(l, param)
            if not layers or (mutant.every_layer and len(layers) < 2):
                continue  # no change here, or the same as a single-layer mutant
            dJ_dZ = self._mutant_dJ_dZ(number, mutant, l)
            A_prev = mutant.A_prev.get(l, c.A[l - 1])
            H = dJ_dZ.sum(axis=1) if param == "b" else c.dJ_dW(l, dJ_dZ, A_prev)
            if not np.all(np.isfinite(H)):
                continue
            scale = max(float(np.max(np.abs(H))), float(np.max(np.abs(t.T))))
            if t.explained_by(H, MATCH_FACTOR * (t.bound + MUTANT_SLACK * scale)):
                where = ("layer " if len(layers) == 1 else "layers ") + ", ".join(map(str, layers))
                names = ", ".join(c.names[k - 1] for k in layers)
                text = mutant.text.format(layers=where, names=names)
                return Diagnosis(mutant.pattern, text, layer=max(layers), function=mutant.function)
        return None

    def _mutant_dJ_dZ(self, number: int, mutant: Mutant, l: int) -> Array:
        """dJ_dZ at layer l under the mutant, walking down from its topmost change."""
        assert self._chain is not None
        c, cache = self._chain, self._dJ_dZ
        top = max([k for k in (*mutant.g_prime, *mutant.sum_W) if k >= l], default=l)
        k = next((k for k in range(l, top + 1) if (number, k) in cache), None)
        if k is not None:
            dJ_dZ = cache[(number, k)]
        else:
            k = top
            if k in mutant.sum_W or k in mutant.g_prime:
                dJ_dA = mutant.sum_W[k].T @ c.dJ_dZ[k + 1] if k in mutant.sum_W else c.dJ_dA[k]
                g = mutant.g_prime[k] if k in mutant.g_prime else c.g_prime[k]
                dJ_dZ = dJ_dA * g
            else:  # only A_prev changes
                dJ_dZ = c.dJ_dZ[k]
            cache[(number, k)] = dJ_dZ
        while k > l:
            k -= 1
            dJ_dA = mutant.sum_W.get(k, c.W[k + 1]).T @ dJ_dZ
            g = mutant.g_prime[k] if k in mutant.g_prime else c.g_prime[k]
            dJ_dZ = cache[(number, k)] = dJ_dA * g
        return dJ_dZ


def _weight_decay(t: _Tensor, W: Array, l2: float) -> Diagnosis | None:
    """candidate = truth + c·W for a constant c (least squares): the candidate's λ is l2 + c."""
    WW = float(np.sum(W * W))
    if W.size < 2 or WW == 0.0:
        return None  # one entry is truth + c·W for some c
    c = float(np.sum((t.C - t.T) * W)) / WW
    dc = float(np.sum(np.abs(W) * t.bound)) / WW  # c's own error, from the candidate's rounding
    tol = MATCH_FACTOR * (t.bound + np.abs(W) * dc + 4.0 * _EPS64 * np.abs(c * W))
    if abs(c) <= MEANINGFUL * l2 or not t.explained_by(t.T + c * W, tol):
        return None  # c = 0, or a λ that reads as the declared l2
    decay = l2 + c
    declare = f": declare NetworkSpec(..., l2={decay:.4g})?" if decay > 0 else ""
    text = f"dW carries a weight-decay term {decay:.4g}·W, but l2 = {l2:g} is declared{declare}"
    return Diagnosis("l2-mismatch", text, factor=decay)


def _any_factor(t: _Tensor, named: Sequence[float]) -> Diagnosis | None:
    """candidate = f · truth for an f no name fits, f by least squares; an f within MEANINGFUL
    of ±1 or of a ``named`` factor (already tried) names nothing."""
    C, T, bound = t.C, t.T, t.bound
    TT = float(np.sum(T * T))
    if T.size < 2 or TT == 0.0:
        return None  # one entry is a multiple of anything
    f = float(np.sum(C * T)) / TT
    # The estimate's own error, from the candidate's rounding, carried into every entry.
    df = max(1.0, abs(f)) * float(np.sum(np.abs(T) * bound)) / TT
    tol = MATCH_FACTOR * (max(1.0, abs(f)) * bound + np.abs(T) * df)
    if f == 0.0 or any(abs(f - v) <= MEANINGFUL * abs(v) for v in (1.0, -1.0, *named)):
        return None  # no factor, or one that is no pattern
    if not t.explained_by(f * T, tol):
        return None
    return Diagnosis("scaled", f"scaled by {fmt_factor(f)}", factor=f)
