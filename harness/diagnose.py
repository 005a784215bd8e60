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

An all-zero tensor gets no name from 8-10: too many of them fit it (a layer skipped, "scaled by
0", a relu' that vanishes on every sample).

Tolerances: hypotheses built from the truth use the per-entry float64 backprop bound
(`SourceValues.backprop`), moved with the entries (transposed, reversed), times max(1, |f|) for a
factor f, plus a few ulps of the l2·W term a hypothesis adds or removes. A mutant adds
``MUTANT_SLACK * max|H|`` for its own rounding, which that bound does not cover. Derivatives
(activations and losses) are written here, a closed set that raises on an unknown name; only the
activations' forward definition is shared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import numpy as np
from numpy.random import Generator

from harness.compare import SourceValues
from harness.network import LEAKY_SLOPE, REDUCTIONS, Array, activate, erfc, leaky_slope
from harness.spec import Loss, Problem

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
#: Slopes people give leaky_relu; a leaky_relu(α)' with another of them is named with it.
LEAKY_SLOPES_TRIED: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5)
_EPS32: Final = float(np.finfo(np.float32).eps)
_EPS64: Final = float(np.finfo(np.float64).eps)
_TINY32: Final = float(np.finfo(np.float32).tiny)  # below it float32 underflows


@dataclass(frozen=True)
class Diagnosis:
    """A named pattern for one wrong tensor.

    ``text`` completes "layer 2 dW: 12/12 entries wrong, <text>". ``layer`` is the layer a
    network-level hypothesis blames (None for tensor-level ones), ``factor`` the scale (-1 for
    sign-flipped; for l2-* patterns the weight decay λ the candidate used), ``index`` the single
    wrong entry, ``function`` the activation whose derivative is missing or misused (for
    wrong-activation-derivative: the one used instead, or the mistyped formula).
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


# --- named factors, and the loss conventions they turn one into another --------------------------

#: A divisor's symbols: ``Loss.divisor`` is the product of these (sum: none).
_DIVISOR_SYMBOLS: Final = {"mean": ("m",), "sum": (), "elementwise_mean": ("m", "n_L")}
_REDUCTION_WORDS: Final = {
    "mean": "a mean over samples",
    "sum": "a sum over samples",
    "elementwise_mean": "a mean over every output entry (torch's default)",
}


@dataclass(frozen=True)
class _Factor:
    value: float
    names: list[str]
    hint: str  # "" or ": a ½·MSE convention? declare Loss('mse', half=True)"

    def text(self) -> str:
        names = self.names
        shown = f" = {self.value:g}" if all(any(c.isalpha() for c in n) for n in names) else ""
        return "scaled by " + " = ".join(names) + shown


def _symbols(loss: Loss) -> list[str]:
    return [*(["2"] if loss.half else []), *_DIVISOR_SYMBOLS[loss.reduction]]


def _ratio_name(own: list[str], alt: list[str]) -> str:
    """own / alt as a name: 'm', '1/2', '1/(m·n_L)', '2/n_L'."""
    up = [s for s in own if s not in alt]
    down = [s for s in alt if s not in own]
    top = "·".join(up) or "1"
    if not down:
        return top
    bottom = "·".join(down)
    return f"{top}/({bottom})" if len(down) > 1 else f"{top}/{bottom}"


def _conventions(loss: Loss, m: int, n_L: int) -> dict[float, tuple[str, list[Loss]]]:
    """factor -> (its name, the other conventions whose gradient is the declared one's times
    it). A sum over samples is proposed only when it is the declared reduction's own."""
    own = loss.divisor(m, n_L)
    halves = (False, True) if loss.name == "mse" else (False,)
    out: dict[float, tuple[str, list[Loss]]] = {}
    for half in halves:
        for reduction in REDUCTIONS:
            if reduction == "sum" and loss.reduction != "sum":
                continue
            alt = Loss(loss.name, half=half, reduction=reduction)
            if alt == loss:
                continue
            value = own / alt.divisor(m, n_L)
            name = _ratio_name(_symbols(loss), _symbols(alt))
            out.setdefault(value, (name, []))[1].append(alt)
    return out


def _hint(own: Loss, alternatives: list[Loss]) -> str:
    said = []
    for alt in alternatives:
        parts = []
        if alt.half != own.half:
            parts.append("a ½·MSE convention" if alt.half else "mse without the ½")
        if alt.reduction != own.reduction:
            parts.append(_REDUCTION_WORDS[alt.reduction])
        said.append(f"{' and '.join(parts)}? declare {alt!r}")
    return ": " + " or ".join(said)


def _named_factors(problem: Problem) -> list[_Factor]:
    """In order of precedence; ±1 is left to sign-flipped (or is no bug)."""
    m, n_L = problem.batch, problem.spec.sizes[-1]
    named = [("1/m", 1 / m), ("m", m), ("2", 2.0), ("1/2", 0.5), ("n_L", n_L), ("1/n_L", 1 / n_L)]
    conventions = _conventions(problem.spec.loss, m, n_L)
    named += [(name, value) for value, (name, _) in conventions.items()]
    groups: dict[float, list[str]] = {}
    for name, value in [*named, *((f"-{name}", -value) for name, value in named[:6])]:
        if abs(value) != 1.0 and name not in groups.get(float(value), []):
            groups.setdefault(float(value), []).append(name)
    return [
        _Factor(value, names, _hint(problem.spec.loss, conventions[value][1]))
        if value in conventions
        else _Factor(value, names, "")
        for value, names in groups.items()
    ]


def _fmt_factor(f: float) -> str:
    """Enough digits to show how far f is from ±1."""
    shown = f"{f:.4g}"
    return shown if abs(float(shown) - f) <= 0.01 * min(abs(f - 1), abs(f + 1)) else repr(f)


# --- the correct backprop, in float64 or float32 -------------------------------------------------


def _sigmoid(z: Array) -> Array:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _Phi(z: Array) -> Array:
    """The standard normal CDF, from erfc (accurate for z << 0)."""
    return 0.5 * erfc(-z / math.sqrt(2.0))


def _gelu_prime(z: Array) -> Array:
    # d/dz z·Φ(z) = Φ(z) + z·φ(z), φ the standard normal density.
    return _Phi(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


#: g'(z) for each elementwise activation, written here (not shared with any source);
#: leaky_relu(α) is read from its name (`_g_prime`), softmax has no elementwise g'.
_G_PRIME: Final[dict[str, Callable[[Array], Array]]] = {
    "sigmoid": lambda z: _sigmoid(z) * _sigmoid(-z),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "relu": lambda z: np.where(z > 0, 1.0, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, LEAKY_SLOPE),
    "identity": np.ones_like,
    "softplus": _sigmoid,
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))),
    "silu": lambda z: _sigmoid(z) * (1.0 + z * _sigmoid(-z)),
    "gelu": _gelu_prime,
}
#: The other common way to write each smooth g': float32 replicas use both, as candidates do.
_G_PRIME_ALT: Final = {
    **_G_PRIME,
    "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
    "tanh": lambda z: 1.0 / np.cosh(z) ** 2,
}
#: Activations whose derivative couples a sample's outputs (a Jacobian, not an elementwise g').
_COUPLED: Final = frozenset({"softmax"})


def _leaky_prime(slope: float) -> Callable[[Array], Array]:
    return lambda z: np.where(z > 0, 1.0, slope)


def _g_prime(
    name: str, table: dict[str, Callable[[Array], Array]] = _G_PRIME
) -> Callable[[Array], Array]:
    """g' of an elementwise activation; raises on softmax and on a name nobody knows."""
    if name in table:
        return table[name]
    alpha = leaky_slope(name)
    if alpha is not None:
        return _leaky_prime(alpha)
    raise ValueError(f"diagnose: no elementwise derivative for activation {name!r}")


def _softmax_diagonal(z: Array) -> Array:
    a = activate("softmax", z)
    return a * (1.0 - a)


#: Common mistypings of a derivative, by the activation they belong to: the formula as a
#: student writes it. Tried before another activation's g' (pattern wrong-activation-derivative).
_MISTYPED: Final[dict[str, dict[str, Callable[[Array], Array]]]] = {
    "tanh": {"1 - tanh(z)": lambda z: 1.0 - np.tanh(z), "tanh(z)": np.tanh},
    "relu": {
        "z": lambda z: np.array(z, dtype=np.float64),
        "max(z, 0)": lambda z: np.maximum(z, 0.0),
    },
    "softplus": {"σ(-z)": lambda z: _sigmoid(-z)},
    "sigmoid": {"σ(z)(1 + σ(z))": lambda z: _sigmoid(z) * (1.0 + _sigmoid(z))},
    "silu": {"σ(z), missing z·σ(z)(1 - σ(z))": _sigmoid},
    "gelu": {"Φ(z), missing z·φ(z)": _Phi},
    "elu": {
        "e^z - 1 for z <= 0 (elu itself, missing + 1)": lambda z: np.where(
            z > 0, 1.0, np.expm1(np.minimum(z, 0.0))
        )
    },
    "softmax": {"the diagonal a(1 - a) of its Jacobian": _softmax_diagonal},
}


def _mistyped(own: str) -> dict[str, Callable[[Array], Array]]:
    """The mistypings of ``own``'; a leaky_relu(α) with another usual slope, named."""
    table = dict(_MISTYPED.get(own, {}))
    alpha = leaky_slope(own)
    if alpha is not None:
        for slope in LEAKY_SLOPES_TRIED:
            if slope != alpha:
                text = f"slope {slope:g} for z <= 0 (the forward pass uses {alpha:g})"
                table[text] = _leaky_prime(slope)
    return table


def _as(values: Array, dtype: type[np.floating[Any]], jitter: Generator | None = None) -> Array:
    """``values`` in ``dtype``; with ``jitter``, each value float32 cannot hold exactly is first
    moved by a random relative ±eps32 (exact ones, such as 0/1 labels, stay)."""
    if jitter is not None:
        inexact = values != np.asarray(values, dtype=np.float32)
        values = values * (1.0 + inexact * _EPS32 * jitter.uniform(-1.0, 1.0, np.shape(values)))
    return cast(Array, np.asarray(values, dtype=dtype))


class _Chain:
    """The correct backward pass in ``dtype``, every quantity keyed by its 1-based layer
    (A[0] = X). In float32 with jittered inputs: one sample of a float32 backprop's rounding.
    ``g_prime`` holds the elementwise layers only (not a softmax output)."""

    def __init__(
        self,
        problem: Problem,
        dtype: type[np.floating[Any]] = np.float64,
        jitter: Generator | None = None,
        g_primes: dict[str, Callable[[Array], Array]] = _G_PRIME,
    ):
        spec, m, L = problem.spec, problem.batch, problem.spec.depth
        self.names = spec.activations
        self.l2 = spec.l2
        self.W = {l: _as(problem.params[l - 1][0], dtype, jitter) for l in range(1, L + 1)}
        b = {l: _as(problem.params[l - 1][1], dtype, jitter) for l in range(1, L + 1)}
        self.Z: dict[int, Array] = {}
        self.A = {0: _as(problem.X, dtype, jitter)}
        for l, name in enumerate(self.names, start=1):
            self.Z[l] = self.W[l] @ self.A[l - 1] + b[l][:, None]
            self.A[l] = _as(activate(name, self.Z[l]), dtype)  # identity's copy is float64
        self.g_prime = {
            l: _as(_g_prime(name, g_primes)(self.Z[l]), dtype)
            for l, name in enumerate(self.names, start=1)
            if name not in _COUPLED
        }
        Y, A_L = _as(problem.Y, dtype, jitter), self.A[L]
        self.dJ_dA, self.dJ_dZ = {}, {}
        self.dJ_dA[L], self.dJ_dZ[L] = self._output(spec.loss.name, A_L, Y, spec.divisor(m))
        for l in range(L - 1, 0, -1):
            self.dJ_dA[l] = self.W[l + 1].T @ self.dJ_dZ[l + 1]
            self.dJ_dZ[l] = self.dJ_dA[l] * self.g_prime[l]

    def _output(self, loss: str, A_L: Array, Y: Array, divisor: float) -> tuple[Array, Array]:
        """(dJ_dA, dJ_dZ) at the output, for each loss of the closed set."""
        L = len(self.names)
        if loss == "mse":
            dJ_dA = 2.0 * (A_L - Y) / divisor
            if self.names[-1] == "softmax":  # ∂a_k/∂z_j = a_k(δ_kj - a_j), column by column
                return dJ_dA, A_L * (dJ_dA - np.sum(A_L * dJ_dA, axis=0, keepdims=True))
            return dJ_dA, dJ_dA * self.g_prime[L]
        if loss == "bce":  # sigmoid output: dJ_dZ = (a - y)/divisor; dJ_dA for a mutant g' only
            dJ_dZ = (A_L - Y) / divisor
            return dJ_dZ / self.g_prime[L], dJ_dZ  # inf where σ' underflows
        if loss == "cross_entropy":  # softmax output, Y's columns are probability vectors
            dJ_dZ = (A_L * np.sum(Y, axis=0, keepdims=True) - Y) / divisor
            y_over_a = np.divide(Y, A_L, out=np.zeros_like(A_L), where=Y != 0)
            return -y_over_a / divisor, dJ_dZ  # dJ_dA for a mutant g' only
        raise ValueError(f"diagnose: no derivative for loss {loss!r}")

    def dJ_dW(self, l: int, dJ_dZ: Array, A_prev: Array) -> Array:
        """dJ/dW^(l) from layer l's dJ_dZ: the loss term and the L2 term."""
        dW: Array = dJ_dZ @ A_prev.T
        return dW + self.l2 * self.W[l] if self.l2 else dW


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
    for k in c.Z:
        value = replace(k)
        if value is not None and not (k in c.g_prime and np.array_equal(value, c.g_prime[k])):
            new[k] = value
    out = [
        _Mutant(pattern, text, function or c.names[k - 1], g_prime={k: value})
        for k, value in new.items()
    ]
    if len(new) > 1:
        out.append(_Mutant(pattern, text, function, every_layer=True, g_prime=new))
    return out


def _g_prime_mutants(c: _Chain) -> list[_Mutant]:
    def ones(k: int) -> Array:
        return np.ones_like(c.Z[k])

    def at_A(k: int) -> Array | None:
        name = c.names[k - 1]
        return None if name in _COUPLED else _g_prime(name)(c.A[k])

    out = _substitutions(
        c, "missing-activation-derivative", ones, "missing g' of {layers} ({names})", None
    )
    text = "g'(a) used where g'(z) belongs at {layers} ({names})"
    out += _substitutions(c, "derivative-at-activation", at_A, text, None)
    for own in dict.fromkeys(c.names):
        for formula, mistyped in _mistyped(own).items():

            def replace_typo(
                k: int, own: str = own, mistyped: Callable[[Array], Array] = mistyped
            ) -> Array | None:
                return mistyped(c.Z[k]) if c.names[k - 1] == own else None

            text = f"{own}' written as {formula} at {{layers}}"
            out += _substitutions(c, "wrong-activation-derivative", replace_typo, text, formula)
        if own in _COUPLED:
            continue  # another activation's elementwise g' is no mistake one makes for a Jacobian
        for other in _G_PRIME:
            if other in (own, "identity"):
                continue

            def replace(k: int, own: str = own, other: str = other) -> Array | None:
                return _G_PRIME[other](c.Z[k]) if c.names[k - 1] == own else None

            text = f"derivative matches {other}' instead of {own}' at {{layers}}"
            out += _substitutions(c, "wrong-activation-derivative", replace, text, other)
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
        for k in c.g_prime:
            j = k + d
            if j not in c.Z or c.Z[j].shape != c.Z[k].shape:
                continue
            at_Z[k] = _g_prime(c.names[k - 1])(c.Z[j])
            text = f"g' of layer {k} evaluated at Z{j} instead of Z{k}"
            out.append(_Mutant("layer-shifted", text, c.names[k - 1], g_prime={k: at_Z[k]}))
            if c.names[j - 1] != c.names[k - 1] and j in c.g_prime:
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
        self.factors = _named_factors(problem)
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
            decay = self._decay(l, k)
            return (
                self._from_mutants(t, l, param)
                or (_weight_decay(t, decay[0], self.problem.spec.l2) if decay else None)
                or _any_factor(t)
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
                return Diagnosis("scaled", f.text() + hint, factor=f.value)
        if decay is None:
            return None
        loss_term = t.T - decay[1]
        for f in self.factors:
            H = f.value * loss_term + decay[1]
            slack = 4.0 * _EPS64 * (np.abs(f.value * loss_term) + np.abs(decay[1]))
            if t.explained_by(H, MATCH_FACTOR * (max(1.0, abs(f.value)) * t.bound + slack)):
                text = f"loss term {f.text()} (l2·W right){f.hint}"
                return Diagnosis("scaled", text, factor=f.value)
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
                _Chain(self.problem, np.float32, jitter if i else None, g_primes)
                for i in range(FLOAT32_REPLICAS)
                for g_primes in (_G_PRIME, _G_PRIME_ALT)
            ]
        errors = []
        for c in self._replicas:
            G32 = c.dJ_dW(l, c.dJ_dZ[l], c.A[l - 1]) if k == 0 else c.dJ_dZ[l].sum(axis=1)
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
    if c == 0.0 or not t.explained_by(t.T + c * W, tol):
        return None
    decay = l2 + c
    declare = f": declare NetworkSpec(..., l2={decay:.4g})?" if decay > 0 else ""
    text = f"dW carries a weight-decay term {decay:.4g}·W, but l2 = {l2:g} is declared{declare}"
    return Diagnosis("l2-mismatch", text, factor=decay)


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
