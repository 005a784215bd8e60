"""Name the pattern of a wrong gradient tensor: "looks transposed", "scaled by 1/m = 0.25", ...

For each tensor `harness.compare` found wrong, `diagnose` tries hypotheses H about how the
candidate got its values. H *matches* when ``|candidate - H|`` is within MATCH_FACTOR tolerances
on every entry **and** the truth is not (a hypothesis too loose to tell the bug from the truth
names nothing). The truth is SymPy's gradient, the 50-digit one when there is one. The first match
names the tensor; a tensor none matches is left out (the caller says "no known pattern").

Precedence, cheap and specific first:

1. ``sign-flipped``: -truth. Before any factor, so a factor -1 is never "scaled by -1".
2. ``scaled`` by a named factor: 1/m, m, 2, 1/2, n_L, 1/n_L, then their negatives. Names that
   coincide on a problem are reported together ("scaled by m = 2").
3. ``transposed``: truth.T, or truth.T reshaped into W's shape (the rows-as-samples
   ``A_prev @ dJ_dZ.T``). A W with one row or column reads the same either way; on a symmetric
   truth the truth itself matches, so neither is ever called transposed.
4. ``reversed-layers``: layer l holds the truth of layer L+1-l (same shape, l != L+1-l).
5. ``single-entry``: exactly one entry off, in a tensor of more than one; before float32, so one
   entry off by 1e-6 is not called a precision problem.
6. ``float32-precision``: max |Δ| within [FLOAT32_LOWEST, FLOAT32_FACTOR] times (plus float32's
   underflow threshold) the largest error of this module's backprop run in float32: with both
   usual forms of sigmoid' and tanh', on the inputs and on inputs jittered by ±eps32. (The
   float64 bound times 2**29 is a worst case: 1e-3 relative noise would pass as float32.)
7. Mutant backprops, re-computed here with one bug: ``missing-activation-derivative`` (g'_k := 1),
   ``derivative-at-activation`` (g'_k(A_k)), ``wrong-activation-derivative`` (another
   activation's g' at Z_k; identity' is "missing"), ``layer-shifted`` (the backward sum into
   layer k with W_k or W_(k+2) for W_(k+1); g'_k at a neighbour's Z, or the neighbour's g'(Z);
   dW_k with A_k or A_(k-2) for A_(k-1)), in that order. Each is tried at one layer, then at
   every layer it applies to (a bug written once in the loop: g'(A) everywhere, a wrong sigmoid'
   wherever there is a sigmoid). ``layer`` is the topmost mutated layer the tensor depends on;
   the text names all of them.
8. ``scaled`` by any other constant (least squares), last: a mutant that acts as a constant
   (missing g' of a leaky_relu layer whose z are all negative) is the more specific name.

An all-zero tensor gets no name from 7-8: too many of them fit it (a layer skipped, "scaled by
0", a relu' that vanishes on every sample).

Tolerances: hypotheses built from the truth use the per-entry float64 backprop bound
(`SourceValues.backprop`), moved with the entries (transposed, reversed), times max(1, |f|) for a
factor f. A mutant adds ``MUTANT_SLACK * max|H|`` for its own rounding, which that bound does not
cover. Derivatives are written here; only the activations' forward definition is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np
from numpy.random import Generator

from harness.compare import SourceValues
from harness.network import ACTIVATIONS, LEAKY_SLOPE, Array, activate
from harness.spec import Problem

__all__ = ["PATTERNS", "Diagnosis", "diagnose"]

PATTERNS: Final = (
    "transposed", "scaled", "sign-flipped", "missing-activation-derivative",
    "derivative-at-activation", "wrong-activation-derivative", "layer-shifted",
    "reversed-layers", "float32-precision", "single-entry",
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
_EPS32: Final = float(np.finfo(np.float32).eps)
_TINY32: Final = float(np.finfo(np.float32).tiny)  # below it float32 underflows


@dataclass(frozen=True)
class Diagnosis:
    """A named pattern for one wrong tensor.

    ``text`` completes "layer 2 dW: 12/12 entries wrong, <text>". ``layer`` is the layer a
    network-level hypothesis blames (None for tensor-level ones), ``factor`` the scale (-1 for
    sign-flipped), ``index`` the single wrong entry, ``function`` the activation whose
    derivative is missing or misused (for wrong-activation-derivative: the one used instead).
    """

    pattern: str
    text: str
    layer: int | None = None
    factor: float | None = None
    index: tuple[int, ...] | None = None
    function: str | None = None


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


def _named_factors(problem: Problem) -> list[tuple[float, list[str]]]:
    """(value, names) in order of precedence; ±1 is left to sign-flipped (or is no bug)."""
    m, n_L = float(problem.batch), float(problem.spec.sizes[-1])
    named = [("1/m", 1 / m), ("m", m), ("2", 2.0), ("1/2", 0.5), ("n_L", n_L), ("1/n_L", 1 / n_L)]
    groups: dict[float, list[str]] = {}
    for name, value in [*named, *((f"-{name}", -value) for name, value in named)]:
        if abs(value) != 1.0:
            groups.setdefault(value, []).append(name)
    return list(groups.items())


def _factor_text(value: float, names: list[str]) -> str:
    shown = f" = {value:g}" if all(any(c.isalpha() for c in n) for n in names) else ""
    return "scaled by " + " = ".join(names) + shown


def _fmt_factor(f: float) -> str:
    """Enough digits to show how far f is from ±1."""
    shown = f"{f:.4g}"
    return shown if abs(float(shown) - f) <= 0.01 * min(abs(f - 1), abs(f + 1)) else repr(f)


# --- the correct backprop, in float64 or float32 -------------------------------------------------


def _sigmoid(z: Array) -> Array:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


#: g'(z) for each activation, written here (not shared with any source).
_G_PRIME: Final[dict[str, Callable[[Array], Array]]] = {
    "sigmoid": lambda z: _sigmoid(z) * _sigmoid(-z),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "relu": lambda z: np.where(z > 0, 1.0, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, LEAKY_SLOPE),
    "identity": np.ones_like,
    "softplus": _sigmoid,
}
#: The other common way to write each smooth g': float32 replicas use both, as candidates do.
_G_PRIME_ALT: Final = {
    **_G_PRIME,
    "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    "tanh": lambda z: 1.0 / np.cosh(z) ** 2,
}


#: Common mistypings of a derivative, by the activation they belong to: the formula as a
#: student writes it. Tried like another activation's g' (pattern wrong-activation-derivative).
_MISTYPED: Final[dict[str, dict[str, Callable[[Array], Array]]]] = {
    "tanh": {"1 - tanh(z)": lambda z: 1.0 - np.tanh(z), "tanh(z)": np.tanh},
    "relu": {
        "z": lambda z: np.array(z, dtype=np.float64),
        "max(z, 0)": lambda z: np.maximum(z, 0.0),
    },
    "leaky_relu": {"slope 0.1 for z <= 0": lambda z: np.where(z > 0, 1.0, 0.1)},
    "softplus": {"σ(-z)": lambda z: _sigmoid(-z)},
    "sigmoid": {"σ(z)(1 + σ(z))": lambda z: _sigmoid(z) * (1.0 + _sigmoid(z))},
}


def _as(values: Array, dtype: type[np.floating[Any]], jitter: Generator | None = None) -> Array:
    """``values`` in ``dtype``; with ``jitter``, each value float32 cannot hold exactly is first
    moved by a random relative ±eps32 (exact ones, such as 0/1 labels, stay)."""
    if jitter is not None:
        inexact = values != np.asarray(values, dtype=np.float32)
        values = values * (1.0 + inexact * _EPS32 * jitter.uniform(-1.0, 1.0, np.shape(values)))
    return cast(Array, np.asarray(values, dtype=dtype))


class _Chain:
    """The correct backward pass in ``dtype``, every quantity keyed by its 1-based layer
    (A[0] = X). In float32 with jittered inputs: one sample of a float32 backprop's rounding."""

    def __init__(
        self,
        problem: Problem,
        dtype: type[np.floating[Any]] = np.float64,
        jitter: Generator | None = None,
        g_primes: dict[str, Callable[[Array], Array]] = _G_PRIME,
    ):
        spec, m, L = problem.spec, problem.batch, problem.spec.depth
        self.names = spec.activations
        self.W = {l: _as(problem.params[l - 1][0], dtype, jitter) for l in range(1, L + 1)}
        b = {l: _as(problem.params[l - 1][1], dtype, jitter) for l in range(1, L + 1)}
        self.Z: dict[int, Array] = {}
        self.A = {0: _as(problem.X, dtype, jitter)}
        for l, name in enumerate(self.names, start=1):
            self.Z[l] = self.W[l] @ self.A[l - 1] + b[l][:, None]
            self.A[l] = _as(activate(name, self.Z[l]), dtype)  # identity's copy is float64
        self.g_prime = {l: _as(g_primes[self.names[l - 1]](self.Z[l]), dtype) for l in self.Z}
        Y, A_L = _as(problem.Y, dtype, jitter), self.A[L]
        if spec.loss.name == "mse":
            self.dJ_dA = {L: 2.0 * (A_L - Y) / m}
            self.dJ_dZ = {L: self.dJ_dA[L] * self.g_prime[L]}
        else:  # bce, sigmoid output: dJ_dZ = (a - y)/m; dJ_dA only for a mutant g' at the top
            self.dJ_dZ = {L: (A_L - Y) / m}
            self.dJ_dA = {L: self.dJ_dZ[L] / self.g_prime[L]}  # inf where σ' underflows
        for l in range(L - 1, 0, -1):
            self.dJ_dA[l] = self.W[l + 1].T @ self.dJ_dZ[l + 1]
            self.dJ_dZ[l] = self.dJ_dA[l] * self.g_prime[l]


# --- mutants: the correct backprop with one bug ---------------------------------------------------


@dataclass(frozen=True)
class _Mutant:
    """What replaces g'_k, W_(k+1) in dJ_dA_k = W_(k+1)^T dJ_dZ_(k+1), A_(k-1) in dW_k."""

    pattern: str
    text: str  # may hold {layers} and {names}: the mutated layers the tensor depends on
    function: str | None = None
    every_layer: bool = False  # the "written once in the loop" variant
    g_prime: dict[int, Array] = field(default_factory=dict)
    sum_W: dict[int, Array] = field(default_factory=dict)  # noqa: N815
    A_prev: dict[int, Array] = field(default_factory=dict)

    def relevant(self, l: int, param: str) -> list[int]:
        layers = {k for k in (*self.g_prime, *self.sum_W) if k >= l}
        return sorted(layers | ({l} if param == "W" and l in self.A_prev else set()))


def _substitutions(
    c: _Chain, pattern: str, replace: Callable[[int], Array | None], text: str, function: str | None
) -> list[_Mutant]:
    """g'_k replaced by ``replace(k)`` at each layer alone, then at all of them at once."""
    new = {}
    for k in c.g_prime:
        value = replace(k)
        if value is not None and not np.array_equal(value, c.g_prime[k]):
            new[k] = value
    out = [
        _Mutant(pattern, text, function or c.names[k - 1], g_prime={k: value})
        for k, value in new.items()
    ]
    if len(new) > 1:
        out.append(_Mutant(pattern, text, function, every_layer=True, g_prime=new))
    return out


def _g_prime_mutants(c: _Chain) -> list[_Mutant]:
    ones, at_A = (lambda k: np.ones_like(c.Z[k])), (lambda k: _G_PRIME[c.names[k - 1]](c.A[k]))
    out = _substitutions(
        c, "missing-activation-derivative", ones, "missing g' of {layers} ({names})", None
    )
    text = "g'(a) used where g'(z) belongs at {layers} ({names})"
    out += _substitutions(c, "derivative-at-activation", at_A, text, None)
    for own in dict.fromkeys(c.names):
        for other in ACTIVATIONS:
            if other in (own, "identity"):
                continue

            def replace(k: int, own: str = own, other: str = other) -> Array | None:
                return _G_PRIME[other](c.Z[k]) if c.names[k - 1] == own else None

            text = f"derivative matches {other}' instead of {own}' at {{layers}}"
            out += _substitutions(c, "wrong-activation-derivative", replace, text, other)
        for formula, mistyped in _MISTYPED.get(own, {}).items():

            def replace_typo(
                k: int, own: str = own, mistyped: Callable[[Array], Array] = mistyped
            ) -> Array | None:
                return mistyped(c.Z[k]) if c.names[k - 1] == own else None

            text = f"{own}' written as {formula} at {{layers}}"
            out += _substitutions(c, "wrong-activation-derivative", replace_typo, text, formula)
    return out


def _shift_mutants(c: _Chain) -> list[_Mutant]:
    out: list[_Mutant] = []
    L = len(c.names)
    for offset, label in ((0, "W(l)"), (2, "W(l+2)")):  # W_(k+offset) where W_(k+1) belongs
        sums = {
            k: c.W[k + offset]
            for k in range(1, L)
            if k + offset in c.W and c.W[k + offset].shape == c.W[k + 1].shape
        }
        for k, M in sums.items():
            text = f"backward sum into layer {k} uses W{k + offset} instead of W{k + 1}"
            out.append(_Mutant("layer-shifted", text, sum_W={k: M}))
        if len(sums) > 1:
            text = f"backward sums into {{layers}} use {label} instead of W(l+1)"
            out.append(_Mutant("layer-shifted", text, every_layer=True, sum_W=sums))
    for d, where in ((-1, "below"), (1, "above")):
        at_Z, whole = {}, {}  # g'_k at Z_(k+d); g'_(k+d)(Z_(k+d))
        for k in c.Z:
            j = k + d
            if j not in c.Z or c.Z[j].shape != c.Z[k].shape:
                continue
            at_Z[k] = _G_PRIME[c.names[k - 1]](c.Z[j])
            text = f"g' of layer {k} evaluated at Z{j} instead of Z{k}"
            out.append(_Mutant("layer-shifted", text, c.names[k - 1], g_prime={k: at_Z[k]}))
            if c.names[j - 1] != c.names[k - 1]:
                whole[k] = c.g_prime[j]
                text = f"layer {j}'s g'(Z{j}) used in place of layer {k}'s"
                out.append(_Mutant("layer-shifted", text, c.names[j - 1], g_prime={k: whole[k]}))
        for new, text in (
            (at_Z, f"g' of {{layers}} evaluated at the Z of the layer {where}"),
            (whole, f"{{layers}} use the g'(Z) of the layer {where}"),
        ):
            if len(new) > 1:
                out.append(_Mutant("layer-shifted", text, every_layer=True, g_prime=new))
    for k in range(1, L + 1):
        for j in (k - 2, k):
            if j in c.A and c.A[j].shape == c.A[k - 1].shape:
                names = ["X" if i == 0 else f"A{i}" for i in (j, k - 1)]
                text = f"dW{k} uses {names[0]} instead of {names[1]}"
                out.append(_Mutant("layer-shifted", text, A_prev={k: c.A[j]}))
    return out


# --- the hypotheses, in order --------------------------------------------------------------------


class _Diagnoser:
    def __init__(
        self, problem: Problem, candidate: Sequence[tuple[Array, Array]], sources: SourceValues
    ):
        self.problem = problem
        self.candidate = candidate
        self.truth = sources.grads["symbolic_50" if "symbolic_50" in sources.grads else "symbolic"]
        self.bound = sources.backprop
        self._chain: _Chain | None = None  # built only when a mutant is needed
        self._replicas: list[_Chain] = []  # float32 runs, built only when float32 is tried
        self._mutants: list[_Mutant] = []
        self._dJ_dZ: dict[tuple[int, int], Array] = {}  # (mutant number, layer) -> dJ_dZ

    def tensor(self, l: int, param: str) -> Diagnosis | None:
        k = "Wb".index(param)
        C = np.asarray(self.candidate[l - 1][k], dtype=np.float64)
        t = _Tensor(C, self.truth[l - 1][k], self.bound[l - 1][k])
        if not np.all(np.isfinite(t.T)) or t.within(t.T, MATCH_FACTOR * t.bound):
            return None  # no truth to compare with, or not wrong at all
        with np.errstate(all="ignore"):
            if found := self._from_truth(t, l, k):
                return found
            if t.within(0.0 * t.T, MATCH_FACTOR * t.bound):
                return None  # all zero: too many mutants fit
            return self._from_mutants(t, l, param) or _any_factor(t)

    def _from_truth(self, t: _Tensor, l: int, k: int) -> Diagnosis | None:
        T, bound = t.T, t.bound
        if t.explained_by(-T, MATCH_FACTOR * bound):
            return Diagnosis("sign-flipped", "sign-flipped", factor=-1.0)
        for value, names in _named_factors(self.problem):
            if t.explained_by(value * T, MATCH_FACTOR * max(1.0, abs(value)) * bound):
                return Diagnosis("scaled", _factor_text(value, names), factor=value)
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

    def _float32_error(self, l: int, k: int) -> float:
        """The largest error of this module's backprop run in float32 (both forms of g')."""
        if not self._replicas:
            jitter = np.random.default_rng(0)
            self._replicas = [
                _Chain(self.problem, np.float32, jitter if i else None, g_primes)
                for i in range(FLOAT32_REPLICAS)
                for g_primes in (_G_PRIME, _G_PRIME_ALT)
            ]
        errors = []
        for c in self._replicas:
            G32 = c.dJ_dZ[l] @ c.A[l - 1].T if k == 0 else c.dJ_dZ[l].sum(axis=1)
            errors.append(float(np.max(np.abs(G32.astype(np.float64) - self.truth[l - 1][k]))))
        return max(errors)

    def _from_mutants(self, t: _Tensor, l: int, param: str) -> Diagnosis | None:
        if self._chain is None:
            self._chain = _Chain(self.problem)
            self._mutants = _g_prime_mutants(self._chain) + _shift_mutants(self._chain)
        c = self._chain
        for number, mutant in enumerate(self._mutants):
            layers = mutant.relevant(l, param)
            if not layers or (mutant.every_layer and len(layers) < 2):
                continue  # no change here, or the same as a single-layer mutant
            dJ_dZ = self._mutant_dJ_dZ(number, mutant, l)
            A_prev = mutant.A_prev.get(l, c.A[l - 1])
            H = dJ_dZ.sum(axis=1) if param == "b" else dJ_dZ @ A_prev.T
            if not np.all(np.isfinite(H)):
                continue
            scale = max(float(np.max(np.abs(H))), float(np.max(np.abs(t.T))))
            if t.explained_by(H, MATCH_FACTOR * (t.bound + MUTANT_SLACK * scale)):
                where = ("layer " if len(layers) == 1 else "layers ") + ", ".join(map(str, layers))
                names = ", ".join(c.names[k - 1] for k in layers)
                text = mutant.text.format(layers=where, names=names)
                return Diagnosis(mutant.pattern, text, layer=max(layers), function=mutant.function)
        return None

    def _mutant_dJ_dZ(self, number: int, mutant: _Mutant, l: int) -> Array:
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
                dJ_dZ = dJ_dA * mutant.g_prime.get(k, c.g_prime[k])
            else:  # only A_prev changes
                dJ_dZ = c.dJ_dZ[k]
            cache[(number, k)] = dJ_dZ
        while k > l:
            k -= 1
            dJ_dA = mutant.sum_W.get(k, c.W[k + 1]).T @ dJ_dZ
            dJ_dZ = cache[(number, k)] = dJ_dA * mutant.g_prime.get(k, c.g_prime[k])
        return dJ_dZ


def _any_factor(t: _Tensor) -> Diagnosis | None:
    """candidate = f · truth for an f no name fits, f by least squares."""
    C, T, bound = t.C, t.T, t.bound
    TT = float(np.sum(T * T))
    if T.size < 2 or TT == 0.0:
        return None  # one entry is a multiple of anything
    f = float(np.sum(C * T)) / TT
    # The estimate's own error, from the candidate's rounding, carried into every entry.
    df = max(1.0, abs(f)) * float(np.sum(np.abs(T) * bound)) / TT
    tol = MATCH_FACTOR * (max(1.0, abs(f)) * bound + np.abs(T) * df)
    if f == 0.0 or not t.explained_by(f * T, tol):
        return None
    return Diagnosis("scaled", f"scaled by {_fmt_factor(f)}", factor=f)
