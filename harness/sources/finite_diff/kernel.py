"""The compiled stages of `finite_diff`'s carried differences (numba), one chunk at a time.

Optional: it needs numba (``pip install numba``, or ``'.[fast]'``); without it `finite_diff` runs
its pure-numpy path, which computes the same quantities (tests/sources/test_fd_kernel.py holds
the two to each other). It carries tanh, sigmoid, softplus, identity, relu and leaky_relu(α)
with mse or bce (`ACT_CODES`); `finite_diff` runs every other convention on the numpy path. The
method and the error model are `finite_diff`'s docstring; this module evaluates them with fewer
passes over memory:

- A chunk's (perturbation, sample) pairs are the rows of 2-D blocks (rows × neurons). Each stage
  — layer l (one neuron), the rank-1 layer l+1 (ΔZ = ΔA^(l)_i W^(l+1)[:, i], formed on the fly),
  a layer after a GEMM, the loss — is one fused pass over its block. The GEMMs from layer l+2 on
  (``ΔA W^T``, and ``G |W|^T`` for the bound) are numpy's, i.e. BLAS.
- Parallelism is by chunk: `finite_diff` runs one chunk per core on Python threads (the stages
  release the GIL, ``nogil=True``) with BLAS held to one thread meanwhile. So exactly one thread
  per core computes: numba's and BLAS's thread pools never fight over the cores, and nothing
  spins waiting for work.
- tanh and sigmoid: ΔA = P / (coth(y) + Q), y = c ΔZ (c = 1 for tanh, 1/2 for sigmoid). For
  |y| <= 1e-6, coth y = 1/y + y/3 + O(y³) (the rest is below 1e-25 relative), so
  ΔA = P y / (1 + u), u = Q y + y²/3, and 1/(1 + u) = 1 - u + u² - ...: with |u| < 1.01e-6 the
  first left-out term is below 1.1e-18 relative (eps/200), inside the identity's 16 eps of
  `finite_diff`. No division and no tanh, so the pass vectorizes; the rare larger y is redone
  with the identity as written, in a second loop that only runs when one exists.

Compiled once and cached on disk by numba (``cache=True``: next to this file, or in numba's user
cache directory when the package is not writable; NUMBA_CACHE_DIR overrides both).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Final

import numpy as np

from harness.sources.finite_diff.identities import _IDENTITY_ULPS

try:  # which branch runs depends on the install: numba comes with the ``fast`` extra
    import numba

    _NUMBA = True
except ImportError:  # pragma: no cover
    _NUMBA = False

__all__ = [
    "ACT_CODES",
    "AVAILABLE",
    "first_stage",
    "loss",
    "m_bound",
    "rank1_stage",
    "stage",
]

#: numba is importable: the compiled stages can run.
AVAILABLE: Final = _NUMBA
#: Identity kind (`identities._kind`) -> the stages' code for it (0 and 1 share the
#: tanh/sigmoid identity; 4 is relu and leaky_relu(α): the slope of z's piece). Other kinds (elu,
#: silu, gelu, softmax) have no code: `finite_diff` carries them on its numpy path.
ACT_CODES: Final = {
    "tanh": 0,
    "sigmoid": 1,
    "softplus": 2,
    "identity": 3,
    "piecewise": 4,
}
_SERIES_MAX = 1e-6  # largest |y| of the division-free tanh/sigmoid form
_SOFTPLUS_ULPS: Final = _IDENTITY_ULPS + 2.0  # bce: the softplus identity's, and its sum's


def _smooth(
    half: float, P: Any, Q: Any, s: int, j0: int, Z: Any, zr: int, n: int, A: Any, ar: int
) -> None:
    """A[ar, :n] = P / (coth(half ΔZ) + Q), ΔZ = Z[zr, :n], at layer row s, neurons j0.. (rows
    are indexed, never sliced: a view per row costs more than the arithmetic)."""
    big = 0.0
    for j in range(n):
        y = half * Z[zr, j]
        u = Q[s, j0 + j] * y + y * y * (1.0 / 3.0)
        A[ar, j] = P[s, j0 + j] * y * (1.0 - u + u * u)
        big = max(big, abs(y))
    if big > _SERIES_MAX:
        for j in range(n):
            y = half * Z[zr, j]
            if abs(y) > _SERIES_MAX:
                A[ar, j] = P[s, j0 + j] / (1.0 / math.tanh(y) + Q[s, j0 + j])


def _difference(
    code: int, P: Any, Q: Any, Mg: Any, s: int, j0: int, Z: Any, zr: int, n: int, A: Any, ar: int
) -> bool:
    """A[ar, :n] = g(z + ΔZ) - g(z), ΔZ = Z[zr, :n], at layer row s, neurons j0..j0+n; True if
    a relu-type kink is crossed (|ΔZ| >= the margin of z)."""
    kink = False
    if code == 0:
        _smooth(1.0, P, Q, s, j0, Z, zr, n, A, ar)
    elif code == 1:
        _smooth(0.5, P, Q, s, j0, Z, zr, n, A, ar)
    elif code == 2:  # softplus: log1p(σ(z) expm1(ΔZ))
        for j in range(n):
            A[ar, j] = math.log1p(P[s, j0 + j] * math.expm1(Z[zr, j]))
    elif code == 3:
        for j in range(n):
            A[ar, j] = Z[zr, j]
    else:  # relu, leaky_relu: the slope of z's piece
        for j in range(n):
            A[ar, j] = P[s, j0 + j] * Z[zr, j]
            kink |= Mg[s, j0 + j] <= abs(Z[zr, j])
    return kink


def _bound(
    S2: Any, K: Any, s: int, j0: int, EZ: Any, er: int, extra: float, A: Any, ar: int, n: int,
    G: Any, gr: int,
) -> None:  # fmt: skip
    """G[gr, :n] = slope2 E_Z + (K + extra)|ΔA|, in eps."""
    for j in range(n):
        G[gr, j] = S2[s, j0 + j] * EZ[er, j] + (K[s, j0 + j] + extra) * abs(A[ar, j])


def first_stage(
    code: int,
    raw: bool,
    P: Any,
    Q: Any,
    S2: Any,
    K: Any,
    Mg: Any,
    rows: Any,
    cols: Any,
    t: Any,
    X_src: Any,
    E_src: Any,
    extra: float,
    dA: Any,
    G: Any,
    kink: Any,
) -> None:
    """Layer l: row rows[c] moves by t[c] X_src[cols[c], s] (error |t[c]| E_src[cols[c], s]);
    ΔA and G into dA[c, s], G[c, s]. ``raw``: ΔZ and its error instead (bce on the last layer)."""
    C, m = dA.shape
    z, ez, a, g = np.empty((1, 1)), np.empty((1, 1)), np.empty((1, 1)), np.empty((1, 1))
    for c in range(C):
        i, k, tc = rows[c], cols[c], t[c]
        crossed = False
        for s in range(m):  # one neuron: each sample is its own layer row
            z[0, 0] = tc * X_src[k, s]
            ez[0, 0] = abs(tc) * E_src[k, s]
            if raw:
                dA[c, s], G[c, s] = z[0, 0], ez[0, 0]
                continue
            crossed |= _difference(code, P, Q, Mg, s, i, z, 0, 1, a, 0)
            _bound(S2, K, s, i, ez, 0, extra, a, 0, 1, g, 0)
            dA[c, s], G[c, s] = a[0, 0], g[0, 0]
        kink[c] = crossed


def rank1_stage(
    code: int,
    raw: bool,
    with_G: bool,
    WT: Any,
    rows: Any,
    dA_l: Any,
    G_l: Any,
    P: Any,
    Q: Any,
    S2: Any,
    K: Any,
    Mg: Any,
    dA: Any,
    G: Any,
    kink: Any,
) -> None:
    """Layer l+1: ΔZ[c m + s, :] = dA_l[c, s] W^(l+1)^T[rows[c], :] (WT is W^(l+1)^T), then its
    ΔA into dA; if ``with_G`` (layer l+1 is the last) its bound, E_Z = |w| G_l, into G.
    ``raw``: ΔZ and E_Z instead (bce)."""
    C, m = dA_l.shape
    n = WT.shape[1]
    smooth = code <= 1 and not raw
    half = 0.5 if code == 1 else 1.0
    Z, EZ = np.empty((1, n)), np.empty((1, n))
    for c in range(C):
        i = rows[c]
        crossed = False
        w_max = 0.0
        for j in range(n):
            w_max = max(w_max, abs(WT[i, j]))
        for s in range(m):
            r = c * m + s
            delta, e = dA_l[c, s], G_l[c, s]
            if with_G or raw:
                for j in range(n):
                    EZ[0, j] = abs(WT[i, j]) * e
            hd = half * delta
            if smooth and abs(hd) * w_max <= _SERIES_MAX:  # one fused pass, see the module doc
                for j in range(n):
                    y = hd * WT[i, j]
                    u = Q[s, j] * y + y * y * (1.0 / 3.0)
                    dA[r, j] = P[s, j] * y * (1.0 - u + u * u)
            elif raw:
                for j in range(n):
                    dA[r, j] = delta * WT[i, j]
                    G[r, j] = EZ[0, j]
                continue
            else:
                for j in range(n):
                    Z[0, j] = delta * WT[i, j]
                crossed |= _difference(code, P, Q, Mg, s, 0, Z, 0, n, dA, r)
            if with_G:
                _bound(S2, K, s, 0, EZ, 0, 0.0, dA, r, n, G, r)
        kink[c] |= crossed


def stage(
    code: int,
    m: int,
    P: Any,
    Q: Any,
    S2: Any,
    K: Any,
    Mg: Any,
    Z: Any,
    EZ: Any,
    extra: float,
    dA: Any,
    G: Any,
    kink: Any,
) -> None:
    """A layer after a GEMM: rows c m + s of Z (ΔZ) and EZ (its bound) -> ΔA, G."""
    C = Z.shape[0] // m
    n = Z.shape[1]
    for c in range(C):
        crossed = False
        for s in range(m):
            r = c * m + s
            crossed |= _difference(code, P, Q, Mg, s, 0, Z, r, n, dA, r)
            _bound(S2, K, s, 0, EZ, r, extra, dA, r, n, G, r)
        kink[c] |= crossed


def m_bound(M_e: Any, M_delta: Any, rows: Any, e: Any, abs_delta: Any, EZ: Any) -> None:
    """E_Z of layer l+2: M_e[i, s] e + M_delta[i, s] |δ| per row c m + s (`carry._Net.M`)."""
    C, m = e.shape
    n = EZ.shape[1]
    for c in range(C):
        i = rows[c]
        for s in range(m):
            r = c * m + s
            for j in range(n):
                EZ[r, j] = M_e[i, s, j] * e[c, s] + M_delta[i, s, j] * abs_delta[c, s]


def loss(
    bce: bool,
    single: bool,
    two_r: Any,
    err_d: Any,
    S: Any,
    SY: Any,
    Y: Any,
    rows: Any,
    d: Any,
    E: Any,
    m: int,
    divisor: float,
    dJ: Any,
    EJ: Any,
) -> None:
    """ΔJ and its bound (eps) per (perturbation, sample) from rows c m + s of d (ΔA^(L), or ΔZ^(L)
    for bce) and E: the loss identity of `carry._loss_difference` (mse, bce), divided by the
    loss's divisor. ``single``: d holds output rows[c] alone (the perturbed layer is the last)."""
    C = dJ.shape[0]
    n = d.shape[1]
    n_terms = float(m * n)
    for c in range(C):
        j0 = rows[c] if single else 0
        for s in range(m):
            r = c * m + s
            total = 0.0
            bound = 0.0
            if bce:  # ΔH = sp(z + d) - sp(z) - y d
                for j in range(n):
                    x, h = d[r, j], j0 + j
                    sp = math.log1p(S[s, h] * math.expm1(x))
                    total += sp - x * Y[s, h]
                    bound += (
                        E[r, j] * SY[s, h]
                        + (_SOFTPLUS_ULPS + n_terms) * abs(sp)
                        + abs(x) * ((n_terms + 3.0) * Y[s, h] + err_d[s, h])
                    )
            else:  # ΔH = d (2(a - y) + d)
                for j in range(n):
                    x, h = d[r, j], j0 + j
                    tr = two_r[s, h]
                    total += x * tr + x * x
                    bound += (
                        E[r, j] * abs(tr)
                        + E[r, j] * abs(x)
                        + (n_terms + 3.0) * x * x
                        + abs(x) * ((n_terms + 3.0) * abs(tr) + err_d[s, h])
                    )
            dJ[c, s] = total / divisor
            EJ[c, s] = bound / divisor


def _compile() -> dict[str, Callable[..., None]]:
    fastmath = {"reassoc", "contract", "nsz"}  # vectorized sums; inf and NaN still honoured
    helper = numba.njit(cache=True, fastmath=fastmath, inline="always")
    # parallel=True without a prange: numba then runs its array-analysis passes too, which makes
    # these loops some ten times faster (measured); the loops themselves stay serial.
    kernel = numba.njit(cache=True, fastmath=fastmath, nogil=True, parallel=True)
    warnings.filterwarnings(
        "ignore", "(?s).*keyword argument 'parallel=True'", numba.NumbaPerformanceWarning
    )
    g = globals()
    for name in ("_smooth", "_difference", "_bound"):
        g[name] = helper(g[name])
    return {
        name: kernel(g[name]) for name in ("first_stage", "rank1_stage", "stage", "m_bound", "loss")
    }


if AVAILABLE:  # pragma: no branch
    globals().update(_compile())
