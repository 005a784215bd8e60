"""SymPy source: the derivative of the whole composed loss, taken by SymPy.

The loss of one generic sample is built as ONE SymPy expression over symbolic widths n0..nL, in
one of two shapes (the net's *head*)::

    per-output:  C = Σ_j head(z_j^(L), y_j)
    softmax:     C = Σ_j head(z_j^(L), y_j, N),   N = Σ_k e(z_k^(L))
    with z_j^(l) = Σ_k W_l[j, k] · g_{l-1}(z_k^(l-1)) + b_l[j] and x[k] in place of g_0(z_k^(0)),

with `IndexedBase` weights, nested `Sum`s and, while differentiating, undefined functions g_l
(activations), e and head. The softmax shape puts the normalizing sum over the outputs inside the
composed loss, so SymPy differentiates the coupling of the outputs itself: its derivative has a
path through ∂head/∂ξ and one through ∂head/∂ν · Σ_k e'(z_k) ∂z_k/∂θ. SymPy differentiates C
with respect to a generic element W_l[p, q] or b_l[p] (chain, sum and product rules; the derivative
of an `Indexed` by another is a `KroneckerDelta`), and SymPy's `deltasummation` sums the deltas out.
The result's size does not depend on the widths, so one derivative per (depth, layer, tensor,
head) serves every architecture, activation pattern and loss of that depth and head; it is cached.

The L2 term is one more such expression, R = (λ/2)·Σ_l Σ_jk W_l[j, k]², differentiated by SymPy
with its deltas summed out, λ a symbol given the spec's l2 at evaluation. The objective is
J = Σ_samples C / divisor + R (the divisor of the loss's reduction and ½, `NetworkSpec.divisor`).

The concrete functions are SymPy expressions, differentiated by SymPy afterwards, one variable at
a time, each derivative simplified by SymPy (simplification turns bce's derivative into a form
without 1 - σ(ξ), which would round to 0):

- activations g(ξ): sigmoid 1/(1 + e^-ξ), tanh, relu and leaky_relu(α) as `Piecewise` (α the
  exact decimal `Rational` of its name), identity, softplus log1p(e^ξ), elu
  Piecewise((ξ, ξ > 0), (expm1(ξ), True)), silu ξ/(1 + e^-ξ), gelu ξ·erfc(-ξ/√2)/2 — an erfc
  kept from SymPy's rewrite erfc(-x) → 2 - erfc(x), which cancels to nothing for ξ << 0, even
  at 50 digits (`_Erfc`); log1p and expm1 keep the 50-digit values exact near 0 and below;
- per-output head(ξ, υ) := loss(g_L(ξ), υ): mse (a - υ)², bce -[υ log a + (1 - υ) log(1 - a)];
- softmax head(ξ, υ, ν) := loss(e^ξ/ν, υ) with e := exp: mse, cross_entropy -υ log a;
- g_l'(ξ), e'(ξ), ∂head/∂ξ and ∂head/∂ν by SymPy's `diff`.

Evaluation turns each product of nested sums into one `numpy.einsum` over labelled tensors (an
index symbol is an einsum subscript; the sample is one more; a sum of paths under a Σ is
distributed first, Σ_k (a + b) = Σ_k a + Σ_k b, so no path is materialized over k), with the
forward values g_l(z) taken from the shared forward definition `harness.network`. With
``digits=N`` the same expressions are evaluated in mpmath at N significant digits, activations
included, from the exact float64 inputs.

Float64 evaluation of a lambdified derivative is redone in mpmath (40 digits) wherever it is not
finite or, for forms built from e^ξ (sigmoid, tanh, softplus, silu, the per-output heads), where
|ξ| > 30: there they overflow in an intermediate or lose digits. Extreme pre-activations so give
right values, never NaN or a silent 0.

A softmax head is evaluated in float64 at ξ = z - M, M = max_k z_k of its sample, instead (e, e'
and head's derivatives alike; ν is then the shifted sum, in [1, n_L]): e^ξ/ν, and so ∂head/∂ξ,
does not change under the shift, and every ∂head/∂ν (which scales by e^M) is multiplied by
exactly one e'(z_k) (which scales by e^-M), so the gradient is that of the definition while
nothing overflows. mpmath's exponent does not overflow:
the 50-digit values are of the unshifted definition, and comparing both checks the shift.

Built expressions are cached in memory per process. Opt-in, they are also cached on disk: set
``GRADCHECK_SYMBOLIC_CACHE=<dir>`` (`CACHE_ENV`) and each derivative (one file per depth, layer,
tensor and head; one per depth and layer for the L2 term) and each simplified activation / head
derivative is pickled there. A file's key holds the SymPy version, the Python version and a
SHA-256 of this module's source, so an upgrade or a code change never reads a stale expression.
Files are written to a temporary name and renamed into place; a missing, truncated, corrupt or
foreign file is ignored and rebuilt, an unwritable directory is skipped. The files are pickles:
point the variable only at a directory you trust.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, overload

import mpmath
import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.concrete.delta import deltasummation

from harness.errors import SourceLimitError
from harness.network import Array, activate, erfc, forward, leaky_slope
from harness.spec import NetworkSpec, Problem

__all__ = [
    "CACHE_ENV",
    "HEADS",
    "MAX_PARAMS_FOR_DIGITS",
    "PreciseGradients",
    "derivative",
    "gradients",
    "head_of",
]

#: Name of the environment variable that turns the on-disk cache of built expressions on.
CACHE_ENV: Final = "GRADCHECK_SYMBOLIC_CACHE"

#: ``gradients(problem, digits=...)`` accepts nets with at most this many parameters.
MAX_PARAMS_FOR_DIGITS: Final = 200

#: The shapes of the composed loss: C = Σ_j head(z_j, y_j), or with a softmax output
#: C = Σ_j head(z_j, y_j, N) with N = Σ_k e(z_k) (the module docstring).
PER_OUTPUT: Final = "per_output"
SOFTMAX: Final = "softmax"
HEADS: Final = (PER_OUTPUT, SOFTMAX)

_XI: Final = sp.Symbol("xi", real=True)
_UPSILON: Final = sp.Symbol("upsilon", real=True)
_NU: Final = sp.Symbol("nu", positive=True)
_LAMBDA: Final = sp.Symbol("l2", nonnegative=True)  # the L2 coefficient, a value at evaluation
_P, _Q = sp.symbols("p q", integer=True, nonnegative=True)
_K_NORM: Final = sp.Symbol("kN", integer=True)  # the index of the normalizing sum N
_SAMPLE: Final = sp.Symbol("_sample")  # einsum label of the sample axis (not a SymPy index)
_PLACEHOLDERS: Final = sp.symbols("_c0:8", integer=True)
#: Beyond |ξ| = 30, float64 forms built from e^ξ lose digits or overflow: mpmath takes over.
_SAFE_XI: Final = 30.0
#: Activations whose derivative has no form that grows with |ξ| (constants, e^ξ only where ξ <= 0
#: counts, e^(-ξ²/2)): float64 is redone in mpmath only where it is not finite.
_BOUNDED_DERIVATIVES: Final = frozenset({"relu", "identity", "elu", "gelu"})  # and leaky_relu(α)


def head_of(spec: NetworkSpec) -> str:
    """The shape of ``spec``'s composed loss: `SOFTMAX` for a softmax output, else `PER_OUTPUT`."""
    return SOFTMAX if spec.activations[-1] == "softmax" else PER_OUTPUT


# --------------------------------------------------------------------------- the composed loss


class _Sum(sp.Sum):  # type: ignore[misc]
    """`sympy.Sum` whose free symbols are read, not rebuilt.

    SymPy's `ExprWithLimits.free_symbols` masks the summation index with
    ``function.xreplace({k: k})``, and xreplace counts an identity replacement as a change: it
    rebuilds the whole summand (re-creating, and re-printing, every `Subs` inside). `diff` asks
    for free symbols at every level of the nested sums, so at depth 8 that was ~90% of the build.
    Every index here is a plain `Symbol`, for which the free symbols are simply the summand's
    minus the index, plus the limits'. Cached per instance (SymPy expressions are immutable).
    Derivatives and sums SymPy builds from a `_Sum` (via ``self.func``) are `_Sum`s again.
    """

    @property
    def free_symbols(self) -> set[sp.Basic]:
        cached: frozenset[sp.Basic] | None = self.__dict__.get("_free_symbols")
        if cached is None:
            limits = self.limits
            if not all(isinstance(index, sp.Symbol) for index, *_ in limits):
                return super().free_symbols  # type: ignore[no-any-return]
            free = self.function.free_symbols - {index for index, *_ in limits}
            for _, *bounds in limits:
                for bound in bounds:
                    free |= bound.free_symbols
            cached = self.__dict__["_free_symbols"] = frozenset(free)
        return set(cached)


@dataclass(frozen=True)
class _Network:
    depth: int
    widths: tuple[sp.Symbol, ...]
    indices: tuple[sp.Symbol, ...]  # k_0..k_L: node index of each layer inside sums (and kN)
    loss: sp.Expr


@functools.cache
def _symbols(depth: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    """The widths n0..nL and the node indices k0..kL of a net of this depth."""
    n = sp.symbols(f"n0:{depth + 1}", integer=True, positive=True)
    k = sp.symbols(f"k0:{depth + 1}", integer=True)
    return tuple(n), tuple(k)


@functools.cache
def _network(depth: int, head: str) -> _Network:
    n, k = _symbols(depth)
    x, y = sp.IndexedBase("x"), sp.IndexedBase("y")
    W = [sp.IndexedBase(f"W{l}") for l in range(1, depth + 1)]
    b = [sp.IndexedBase(f"b{l}") for l in range(1, depth + 1)]
    g = [sp.Function(f"g{l}") for l in range(1, depth + 1)]
    head_fn = sp.Function("head")

    def z(l: int, j: sp.Symbol) -> sp.Expr:
        """z_j^(l) = Σ_k W_l[j, k] a_k^(l-1) + b_l[j], with a^(0) = x."""
        a_prev = x[k[l - 1]] if l == 1 else g[l - 2](z(l - 1, k[l - 1]))
        return _Sum(W[l - 1][j, k[l - 1]] * a_prev, (k[l - 1], 0, n[l - 1] - 1)) + b[l - 1][j]

    j, n_L = k[depth], n[depth]
    if head == PER_OUTPUT:
        C = _Sum(head_fn(z(depth, j), y[j]), (j, 0, n_L - 1))
    elif head == SOFTMAX:
        N = _Sum(sp.Function("e")(z(depth, _K_NORM)), (_K_NORM, 0, n_L - 1))
        C = _Sum(head_fn(z(depth, j), y[j], N), (j, 0, n_L - 1))
    else:
        raise ValueError(f"unknown head {head!r}; known: {', '.join(HEADS)}")
    return _Network(depth, n, (*k, _K_NORM), C)


@functools.cache
def derivative(depth: int, layer: int, tensor: str, head: str = PER_OUTPUT) -> sp.Expr:
    """∂C/∂W_layer[p, q] (tensor "W") or ∂C/∂b_layer[p] (tensor "b") of one sample's loss C
    of this `head` shape (`HEADS`).

    The expression is SymPy's own derivative of the composed loss with every KroneckerDelta
    summed out; it contains the undefined g_l, head (and e), and the free indices p (and q).
    """
    name = f"derivative-d{depth}-{tensor}{layer}"
    if head != PER_OUTPUT:
        name = f"derivative-{head}-d{depth}-{tensor}{layer}"
    return _disk_cached(name, lambda: _build_derivative(depth, layer, tensor, head))


def _build_derivative(depth: int, layer: int, tensor: str, head: str) -> sp.Expr:
    net = _network(depth, head)
    base = sp.IndexedBase(f"{tensor}{layer}")
    target = base[_P, _Q] if tensor == "W" else base[_P]
    dC = _sum_out_deltas(sp.diff(net.loss, target), set(net.widths))
    if dC.has(sp.KroneckerDelta):
        raise AssertionError(f"SymPy left a KroneckerDelta in ∂C/∂{target}: {dC}")
    return _distribute_sums(dC)


def _distribute_sums(expr: sp.Expr) -> sp.Expr:
    """Σ_k (a + b) → Σ_k a + Σ_k b, bottom-up (the softmax head's two paths under Σ_j).

    Evaluated as one sum of terms, (a + b) would be a tensor over k and every free index of
    either path, all at once; each Σ_k a is one einsum that contracts k on the way.
    """
    if not expr.args or not expr.has(sp.Sum):
        return expr
    args = [_distribute_sums(arg) for arg in expr.args]
    if any(new is not old for new, old in zip(args, expr.args)):  # rebuild changed nodes only
        expr = expr.func(*args)
    if isinstance(expr, sp.Sum) and isinstance(expr.function, sp.Add):
        return sp.Add(*(_distribute_sums(expr.func(t, *expr.limits)) for t in expr.function.args))
    return expr


@functools.cache
def _l2_derivative(depth: int, layer: int) -> sp.Expr:
    """∂R/∂W_layer[p, q] of R = (λ/2)·Σ_l Σ_jk W_l[j, k]², by SymPy (λ·W_layer[p, q])."""
    return _disk_cached(f"l2_derivative-d{depth}-W{layer}", lambda: _build_l2(depth, layer))


def _build_l2(depth: int, layer: int) -> sp.Expr:
    n, k = _symbols(depth)
    R = sum(
        (
            _Sum(
                sp.IndexedBase(f"W{l}")[k[l], k[l - 1]] ** 2,
                (k[l], 0, n[l] - 1),
                (k[l - 1], 0, n[l - 1] - 1),
            )
            for l in range(1, depth + 1)
        ),
        sp.Integer(0),
    )
    target = sp.IndexedBase(f"W{layer}")[_P, _Q]
    dR = _sum_out_deltas(sp.diff(_LAMBDA / 2 * R, target), set(n))
    if dR.has(sp.KroneckerDelta) or dR.has(sp.Sum):
        raise AssertionError(f"SymPy left a delta or a sum in ∂R/∂{target}: {dR}")
    return dR


def _sum_out_deltas(expr: sp.Expr, widths: set[sp.Symbol]) -> sp.Expr:
    """Bottom-up: let SymPy's `deltasummation` sum every Sum whose summand holds a delta."""
    if not expr.args or not expr.has(sp.KroneckerDelta):
        return expr
    expr = expr.func(*[_sum_out_deltas(arg, widths) for arg in expr.args])
    if isinstance(expr, sp.Sum) and expr.function.has(sp.KroneckerDelta):
        summand = expr.function
        for done, limit in enumerate(expr.limits):  # innermost first (the L2 term's Σ_jk)
            if not summand.has(sp.KroneckerDelta):
                return expr.func(summand, *expr.limits[done:])
            summand = _delta_sum(expr.func, summand, limit, widths)
        return summand
    return expr


def _delta_sum(
    sum_type: type[sp.Sum], summand: sp.Expr, limit: tuple[sp.Expr, ...], widths: set[sp.Symbol]
) -> sp.Expr:
    """Σ over one limit of a summand with deltas. A sum of terms of which only some hold a
    delta (the softmax head's two paths) is split first: Σ_k (a + b) = Σ_k a + Σ_k b."""
    terms = sp.Add.make_args(summand)
    if all(term.has(sp.KroneckerDelta) for term in terms):
        return _drop_range_conditions(deltasummation(summand, limit), widths)
    return sp.Add(
        *(
            _delta_sum(sum_type, term, limit, widths)
            if term.has(sp.KroneckerDelta)
            else sum_type(term, limit)
            for term in terms
        )
    )


def _drop_range_conditions(expr: sp.Expr, widths: set[sp.Symbol]) -> sp.Expr:
    """deltasummation returns Piecewise((f(p), 0 <= p <= n - 1), (0, True)).

    The free indices p, q range over the tensor's entries by construction, so the first branch
    holds; anything else would be a bug here, and raises.
    """

    def first_branch(pw: sp.Piecewise) -> sp.Expr:
        (value, condition), *rest = pw.args
        if not condition.free_symbols <= {_P, _Q} | widths:
            raise AssertionError(f"unexpected condition in {pw}")
        if any(other != 0 for other, _ in rest):
            raise AssertionError(f"unexpected non-zero fallback in {pw}")
        return value

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), first_branch)


# ----------------------------------------------------------------- concrete functions, by SymPy


class _Erfc(sp.erfc):  # type: ignore[misc]
    """SymPy's erfc (its derivative, its printing) without the automatic rewrite
    erfc(-x) → 2 - erfc(x): for gelu's erfc(-ξ/√2) at ξ << 0 that difference cancels to nothing,
    in float64 and at 50 digits alike. Numbers still evaluate as SymPy's erfc."""

    @classmethod
    def eval(cls, arg: sp.Expr) -> sp.Expr | None:
        return sp.erfc(arg) if arg.is_Number else None


#: lambdify's names for `_Erfc`: the C library's erfc (vectorized) and mpmath's.
_NUMPY_MODULES: Final = [{"_Erfc": erfc}, "numpy"]
_MPMATH_MODULES: Final = [{"_Erfc": mpmath.erfc}, "mpmath"]


def _activation_expr(name: str) -> sp.Expr:
    """g(ξ) of an elementwise activation (canonical name), as a SymPy expression."""
    xi = _XI
    alpha = leaky_slope(name)
    if alpha is not None:  # leaky_relu and leaky_relu(α), α exactly as written in the name
        return sp.Piecewise((xi, xi > 0), (sp.Rational(str(alpha)) * xi, True))
    if name == "sigmoid":
        return 1 / (1 + sp.exp(-xi))
    if name == "tanh":
        return sp.tanh(xi)
    if name == "relu":
        return sp.Piecewise((xi, xi > 0), (0, True))
    if name == "identity":
        return xi
    if name == "softplus":
        return log1p(sp.exp(xi))  # log1p keeps the 50-digit value exact for ξ << 0
    if name == "elu":
        return sp.Piecewise((xi, xi > 0), (expm1(xi), True))  # expm1: exact near 0-
    if name == "silu":
        return xi / (1 + sp.exp(-xi))
    if name == "gelu":
        return xi * _Erfc(-xi / sp.sqrt(2)) / 2
    if name == "softmax":
        raise ValueError("softmax couples a sample's outputs: it is the softmax head, not a g_l")
    raise ValueError(
        f"unknown activation {name!r} for the SymPy source; known: sigmoid, tanh, relu, "
        f"leaky_relu, leaky_relu(α), identity, softplus, elu, silu, gelu, softmax (output)"
    )


def _head_expr(head: str, loss: str, output_activation: str) -> sp.Expr:
    """head(ξ, υ) := loss(g_L(ξ), υ), or for a softmax output head(ξ, υ, ν) := loss(e^ξ/ν, υ)."""
    upsilon = _UPSILON
    if head == PER_OUTPUT:
        a = _activation_expr(output_activation)
        if loss == "mse":
            return (a - upsilon) ** 2
        if loss == "bce":
            return -(upsilon * sp.log(a) + (1 - upsilon) * sp.log(1 - a))
    elif head == SOFTMAX:
        a = sp.exp(_XI) / _NU
        if loss == "mse":
            return (a - upsilon) ** 2
        if loss == "cross_entropy":
            return -upsilon * sp.log(a)
    else:
        raise ValueError(f"unknown head {head!r}; known: {', '.join(HEADS)}")
    raise ValueError(f"the SymPy source has no loss {loss!r} for a {head} head")


def _head_variables(head: str) -> tuple[sp.Symbol, ...]:
    return (_XI, _UPSILON) if head == PER_OUTPUT else (_XI, _UPSILON, _NU)


@dataclass(frozen=True)
class _Elementwise:
    """A SymPy expression of (ξ[, υ[, ν]]) with its float64 and mpmath evaluators.

    ``redo_beyond``: float64 values at |ξ| above it are redone in mpmath; None: only non-finite
    ones, for forms that cannot overflow where they are evaluated (a bounded derivative, or a
    softmax head's functions at shifted ξ <= 0).
    """

    expr: sp.Expr
    variables: tuple[sp.Symbol, ...]
    redo_beyond: float | None = _SAFE_XI

    @functools.cached_property
    def _numpy(self) -> Callable[..., Any]:
        return sp.lambdify(self.variables, self.expr, modules=_NUMPY_MODULES)  # type: ignore[no-any-return]

    @functools.cached_property
    def _mpmath(self) -> Any:
        f = sp.lambdify(self.variables, self.expr, modules=_MPMATH_MODULES)
        return np.frompyfunc(f, len(self.variables), 1)

    def float64(self, *args: Array) -> Array:
        with np.errstate(all="ignore"):
            value = np.asarray(self._numpy(*args), dtype=np.float64)
        shape = np.broadcast_shapes(*(a.shape for a in args))
        out: Array = np.array(np.broadcast_to(value, shape), dtype=np.float64)
        # Redo at higher precision where float64 cannot be trusted: a non-finite value, or a
        # pre-activation so large that an intermediate power of e^ξ may overflow to inf and
        # turn the value into a silent 0 (e.g. e^ξ · e^ξ / (e^ξ + 1)³ at ξ = 330).
        bad = ~np.isfinite(out)
        if self.redo_beyond is not None:
            bad |= np.abs(np.broadcast_to(args[0], shape)) > self.redo_beyond
        if np.any(bad):
            picked = [np.broadcast_to(a, out.shape)[bad] for a in args]
            with mpmath.workdps(40):
                out[bad] = np.asarray(self._mpmath(*picked), dtype=np.float64)
        return out

    def mp(self, *args: Any) -> Any:
        return self._mpmath(*args)


@functools.cache
def _activation(name: str) -> _Elementwise:
    return _Elementwise(_activation_expr(name), (_XI,))


@functools.cache
def _activation_derivative(name: str) -> _Elementwise:
    expr = _disk_cached(
        f"activation_derivative-{name}",
        lambda: sp.simplify(sp.diff(_activation_expr(name), _XI)),
    )
    bounded = name in _BOUNDED_DERIVATIVES or leaky_slope(name) is not None
    return _Elementwise(expr, (_XI,), None if bounded else _SAFE_XI)


@functools.cache
def _head_derivative(head: str, loss: str, output_activation: str, position: int) -> _Elementwise:
    """∂head/∂(its argument at ``position``): 0 is ξ, 2 is ν (softmax head only)."""
    variables = _head_variables(head)
    if position not in (0, 2) or position >= len(variables):
        raise AssertionError(f"no derivative of a {head} head in its argument {position}")
    name = f"head_derivative-{loss}-{output_activation}"
    if head != PER_OUTPUT:
        name = f"head_derivative-{head}-{loss}-{output_activation}-arg{position}"
    expr = _disk_cached(
        name,
        lambda: sp.simplify(
            sp.diff(_head_expr(head, loss, output_activation), variables[position])
        ),
    )
    # A softmax head is evaluated at ξ <= 0 (shifted), where e^ξ cannot overflow.
    return _Elementwise(expr, variables, None if head == SOFTMAX else _SAFE_XI)


#: e := exp, the terms of a softmax head's normalizing sum N, evaluated at shifted ξ <= 0.
_NORMALIZER_TERM: Final = sp.exp(_XI)


@functools.cache
def _normalizer_term(order: int) -> _Elementwise:
    """e (order 0) or SymPy's e' (order 1)."""
    return _Elementwise(sp.diff(_NORMALIZER_TERM, _XI, order), (_XI,), None)


# ------------------------------------------------------------------------ the on-disk cache


@functools.cache
def _code_key() -> tuple[str, ...] | None:
    """What a cached expression depends on besides its name: SymPy, Python, this module's code."""
    try:
        source = Path(__file__).read_bytes()
    except OSError:
        return None  # no source to hash (e.g. a zip import): no disk cache
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return (sp.__version__, python, hashlib.sha256(source).hexdigest())


def _disk_cached(name: str, build: Callable[[], sp.Expr]) -> sp.Expr:
    """``build()``, read from / written to the directory named by $GRADCHECK_SYMBOLIC_CACHE.

    Without the variable (or if it is empty) this is just ``build()``. A file that cannot be
    read back as exactly this key's expression is ignored and overwritten; a directory that
    cannot be written is skipped. Either way the result is the freshly built expression.
    """
    root = os.environ.get(CACHE_ENV)
    code = _code_key()
    if not root or code is None:
        return build()
    key = (name, *code)
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
    path = Path(root) / f"{name}-{digest}.pickle"
    cached = _load(path, key)
    if cached is not None:
        return cached
    expr = build()
    _store(path, key, expr)
    return expr


def _load(path: Path, key: tuple[str, ...]) -> sp.Expr | None:
    try:
        with path.open("rb") as file:
            stored_key, expr = pickle.load(file)
    except Exception:  # missing, truncated, corrupt or foreign: rebuild, never crash
        return None
    if stored_key != key or not isinstance(expr, sp.Expr):
        return None
    return expr


def _store(path: Path, key: tuple[str, ...], expr: sp.Expr) -> None:
    """Write-then-rename: a reader sees the old file, the new one, or none, never a part."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            pickle.dump((key, expr), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # an unwritable cache costs a rebuild next time, nothing else
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# -------------------------------------------------------------------------------- evaluation

_Labelled = tuple[Any, tuple[sp.Symbol, ...]]  # (array, one label per axis)


@functools.lru_cache(maxsize=4096)
def _canonical(
    expr: sp.Expr, index_symbols: frozenset[sp.Symbol]
) -> tuple[sp.Expr, int, tuple[Any, ...]]:
    """The expression with its free indices renamed to placeholders, its number (`_interned`),
    and those indices in order.

    z_p^(1) and z_k^(1) are one tensor with two labels; the canonical form lets them share a
    cache entry.
    """
    free = sorted(expr.free_symbols & index_symbols, key=str)
    mapping = dict(zip(free, _PLACEHOLDERS))
    canonical = expr.xreplace(mapping)
    return canonical, _interned(canonical), tuple(free)


_NUMBERS: Final = itertools.count()


@functools.cache
def _interned(expr: sp.Expr) -> int:
    """One number per distinct canonical expression, so evaluators memoize by an int.

    Comparing two equal `Subs` re-derives (and prints) their canonical variables each time;
    keyed by the expression, the per-problem memo paid that on every lookup.
    """
    return next(_NUMBERS)


class _Evaluator:
    """Evaluates the derivative expressions of one problem, float64 or mpmath."""

    def __init__(self, problem: Problem, precise: bool):
        spec = problem.spec
        self.spec = spec
        self.precise = precise
        self.head = head_of(spec)
        self.m = problem.batch
        convert = _to_mp if precise else (lambda a: a)
        self.divisor: Any = spec.divisor(problem.batch)
        self.l2: Any = spec.l2
        if precise:
            self.divisor, self.l2 = mpmath.mpf(self.divisor), mpmath.mpf(self.l2)
        self.arrays: dict[str, Any] = {"x": convert(problem.X), "y": convert(problem.Y)}
        for l, (W, b) in enumerate(problem.params, start=1):
            self.arrays[f"W{l}"] = convert(W)
            self.arrays[f"b{l}"] = convert(b)
        # float64 evaluates a softmax head at z - max_k z_k of each sample (module docstring).
        self.shift: Array | None = None
        if self.head == SOFTMAX and not precise:
            Z_L = forward(problem.params, problem.X, spec.activations)[-1][0]
            self.shift = np.max(Z_L, axis=0)
        net = _network(spec.depth, self.head)
        self.index_symbols = frozenset((*net.indices, _P, _Q, *_PLACEHOLDERS))
        self.memo: dict[int, _Labelled] = {}

    # -- public
    def gradient(self, layer: int, tensor: str) -> Any:
        """dJ/dW_layer or dJ/db_layer: Σ_samples ∂C/∂θ / divisor (+ ∂R/∂W, not divided)."""
        dC = derivative(self.spec.depth, layer, tensor, self.head)
        labels = (_P, _Q) if tensor == "W" else (_P,)
        arr, have = self._contract(dC, contract_sample=True)
        shape = self.spec.param_shapes[layer - 1][0 if tensor == "W" else 1]
        out = np.broadcast_to(_align(arr, have, labels), shape) / self.divisor
        if tensor == "W" and self.spec.l2:
            dR, have = self._contract(_l2_derivative(self.spec.depth, layer), False)
            out = out + np.broadcast_to(_align(dR, have, labels), shape)
        return out

    # -- tensors of sub-expressions
    def _tensor(self, expr: sp.Expr) -> _Labelled:
        canonical, number, free = _canonical(expr, self.index_symbols)
        if number not in self.memo:
            self.memo[number] = self._evaluate(canonical)
        arr, labels = self.memo[number]
        rename = dict(zip(_PLACEHOLDERS, free))
        return arr, tuple(rename.get(label, label) for label in labels)

    def _evaluate(self, expr: sp.Expr) -> _Labelled:
        if isinstance(expr, sp.Indexed):
            name = str(expr.base)
            labels = tuple(expr.indices)
            if name in ("x", "y"):
                labels = (*labels, _SAMPLE)
            return self.arrays[name], labels
        if isinstance(expr, (sp.Sum, sp.Mul, sp.Add)):
            return self._contract(expr, contract_sample=False)
        if isinstance(expr, sp.Subs):
            return self._derivative_at(expr)
        if isinstance(expr, sp.core.function.AppliedUndef):
            (arg,) = expr.args
            z, labels = self._tensor(arg)
            name = expr.func.__name__
            if name == "e":
                fn = _normalizer_term(0)
                return (fn.mp(z) if self.precise else fn.float64(self._shifted(z, labels))), labels
            activation = self._activation_of(name)
            if self.precise:
                return _activation(activation).mp(z), labels
            return activate(activation, z), labels
        if expr == _LAMBDA:
            return self.l2, ()
        if isinstance(expr, sp.Number):
            return (_to_mp_scalar(expr) if self.precise else float(expr)), ()
        raise AssertionError(f"cannot evaluate {type(expr).__name__}: {expr}")

    def _activation_of(self, function_name: str) -> str:
        """The activation of g_l, from the undefined function's name g<l>."""
        if not (function_name.startswith("g") and function_name[1:].isdigit()):
            raise AssertionError(f"unexpected function {function_name!r} in a derivative")
        return self.spec.activations[int(function_name[1:]) - 1]

    def _shifted(self, z: Array, labels: tuple[sp.Symbol, ...]) -> Array:
        """z^(L) - max_k z_k^(L) of its sample (float64, softmax head)."""
        if self.shift is None or _SAMPLE not in labels:
            raise AssertionError(f"no per-sample shift for a tensor labelled {labels}")
        shifted: Array = z - _align(self.shift, (_SAMPLE,), labels)
        return shifted

    def _derivative_at(self, subs: sp.Subs) -> _Labelled:
        """Subs(Derivative(f(..., ξ, ...), ξ), ξ, arg): SymPy's ∂f/∂ξ at the value of arg, the
        other arguments of f at their own values (head's y and, for a softmax head, N or z)."""
        derivative_expr, (var,), (point,) = subs.args
        f = derivative_expr.expr
        if derivative_expr.variables != (var,) or var not in f.args:
            raise AssertionError(f"expected a first derivative in one argument: {subs}")
        position = f.args.index(var)
        tensors = [self._tensor(point if arg == var else arg) for arg in f.args]
        union = _union(*(labels for _, labels in tensors))
        values = [_align(arr, labels, union) for arr, labels in tensors]
        name = f.func.__name__
        if name == "head":
            spec = self.spec
            fn = _head_derivative(self.head, spec.loss.name, spec.activations[-1], position)
        elif name == "e":
            fn = _normalizer_term(1)
        else:
            fn = _activation_derivative(self._activation_of(name))
        if self.precise:
            return fn.mp(*values), union
        if self.shift is not None and name in ("head", "e"):
            values[0] = self._shifted(values[0], union)  # ξ = z^(L), first in head and e
        return fn.float64(*values), union

    def _contract(self, expr: sp.Expr, contract_sample: bool) -> _Labelled:
        """Sums of products → one einsum; sums of terms → aligned additions."""
        if isinstance(expr, sp.Add):
            terms = [self._contract(t, contract_sample) for t in expr.args]
            union = _union(*(labels for _, labels in terms))
            total = sum(_align(arr, labels, union) for arr, labels in terms)
            return total, union
        factors: list[sp.Expr] = []
        summed: list[sp.Symbol] = []
        _flatten_product(expr, factors, summed)
        operands = [self._tensor(f) for f in factors]
        contracted = set(summed) | ({_SAMPLE} if contract_sample else set())
        present = _union(*(labels for _, labels in operands))
        if contract_sample and _SAMPLE not in present:
            operands.append(
                (
                    (np.full(self.m, 1.0) if not self.precise else _to_mp(np.full(self.m, 1.0))),
                    (_SAMPLE,),
                )
            )
            present = (*present, _SAMPLE)
        missing = set(summed) - set(present)
        if missing:
            raise AssertionError(f"summed index {missing} does not occur in {expr}")
        out = tuple(label for label in present if label not in contracted)
        return _einsum(operands, out), out


def _flatten_product(expr: sp.Expr, factors: list[sp.Expr], summed: list[sp.Symbol]) -> None:
    """Collect the factors and summed indices of nested Sum(Mul(... Sum(...) ...))."""
    if isinstance(expr, sp.Sum):
        ((index, _, _),) = expr.limits
        if index in summed:  # a reused dummy: keep this sum as a tensor of its own
            factors.append(expr)
            return
        summed.append(index)
        _flatten_product(expr.function, factors, summed)
    elif isinstance(expr, sp.Mul):
        for i, arg in enumerate(expr.args):
            others = expr.args[:i] + expr.args[i + 1 :]
            if isinstance(arg, sp.Sum) and any(arg.limits[0][0] in o.free_symbols for o in others):
                factors.append(arg)  # its dummy is free in a sibling: do not merge scopes
            else:
                _flatten_product(arg, factors, summed)
    else:
        factors.append(expr)


def _union(*label_tuples: tuple[sp.Symbol, ...]) -> tuple[sp.Symbol, ...]:
    seen: dict[sp.Symbol, None] = {}
    for labels in label_tuples:
        for label in labels:
            seen.setdefault(label)
    return tuple(seen)


def _align(arr: Any, labels: tuple[sp.Symbol, ...], target: tuple[sp.Symbol, ...]) -> Any:
    """Transpose ``arr`` to ``target``'s label order, with size-1 axes for labels it lacks."""
    if np.ndim(arr) == 0:
        return arr
    order = [labels.index(t) for t in target if t in labels]
    moved = np.transpose(arr, order)
    shape = [moved.shape[order.index(labels.index(t))] if t in labels else 1 for t in target]
    return np.reshape(moved, shape)


def _einsum(operands: Sequence[_Labelled], out: tuple[sp.Symbol, ...]) -> Any:
    letters: dict[sp.Symbol, str] = {}
    scalar: Any = 1.0
    arrays: list[Any] = []
    subscripts: list[str] = []
    for arr, labels in operands:
        if np.ndim(arr) == 0:
            scalar = scalar * arr
            continue
        for label in labels:
            letters.setdefault(label, chr(ord("a") + len(letters)))
        arrays.append(arr)
        subscripts.append("".join(letters[label] for label in labels))
    spec = ",".join(subscripts) + "->" + "".join(letters[label] for label in out)
    if not arrays:
        result: Any = np.asarray(1.0)
    elif len(arrays) > 2 and arrays[0].dtype != object:
        path = _einsum_path(spec, tuple(np.shape(a) for a in arrays))
        result = np.einsum(spec, *arrays, optimize=path)
    else:
        result = np.einsum(spec, *arrays, optimize=len(arrays) > 2)
    return result * scalar if not (isinstance(scalar, float) and scalar == 1.0) else result


@functools.lru_cache(maxsize=1024)
def _einsum_path(spec: str, shapes: tuple[tuple[int, ...], ...]) -> list[Any]:
    """numpy's greedy contraction order for these subscripts and shapes, found once."""
    dummies = [np.empty(shape) for shape in shapes]
    path: list[Any] = np.einsum_path(spec, *dummies, optimize="greedy")[0]
    return path


def _to_mp(a: Array) -> Any:
    return np.frompyfunc(mpmath.mpf, 1, 1)(a)


def _to_mp_scalar(number: sp.Number) -> Any:
    return (
        mpmath.mpf(number.p) / number.q
        if isinstance(number, sp.Rational)
        else mpmath.mpf(str(number))
    )


# ---------------------------------------------------------------------------------- the API


@dataclass(frozen=True)
class PreciseGradients:
    """Gradients evaluated at ``digits`` significant digits.

    ``grads`` holds them correctly rounded to float64; ``exact`` holds the mpmath values
    (object arrays of ``mpmath.mpf``), accurate to about ``digits`` digits.
    """

    grads: list[tuple[Array, Array]]
    exact: list[tuple[Any, Any]]
    digits: int


@overload
def gradients(problem: Problem, digits: None = None) -> list[tuple[Array, Array]]: ...
@overload
def gradients(problem: Problem, digits: int) -> PreciseGradients: ...


def gradients(
    problem: Problem, digits: int | None = None
) -> list[tuple[Array, Array]] | PreciseGradients:
    """dJ/dθ as ``[(dW1, db1), ...]`` from SymPy's derivative of the composed loss.

    With ``digits`` (nets of at most `MAX_PARAMS_FOR_DIGITS` parameters) the derivative is
    evaluated in mpmath at that precision and a `PreciseGradients` is returned.
    """
    layers = range(1, problem.spec.depth + 1)
    if digits is None:
        ev = _Evaluator(problem, precise=False)
        return [
            (
                np.asarray(ev.gradient(l, "W"), dtype=np.float64),
                np.asarray(ev.gradient(l, "b"), dtype=np.float64),
            )
            for l in layers
        ]
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 16:
        raise SourceLimitError(f"digits must be an int >= 16, got {digits!r}")
    if problem.spec.n_params > MAX_PARAMS_FOR_DIGITS:
        raise SourceLimitError(
            f"digits={digits} evaluates every entry in mpmath and is limited to nets of at most "
            f"{MAX_PARAMS_FOR_DIGITS} parameters; this one has {problem.spec.n_params} "
            f"({problem.spec!r}). Use digits=None for float64."
        )
    with mpmath.workdps(digits):
        ev = _Evaluator(problem, precise=True)
        exact = [(ev.gradient(l, "W"), ev.gradient(l, "b")) for l in layers]
        rounded = [
            (np.asarray(dW, dtype=np.float64), np.asarray(db, dtype=np.float64)) for dW, db in exact
        ]
    return PreciseGradients(grads=rounded, exact=exact, digits=digits)
