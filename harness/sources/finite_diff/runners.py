"""How a chunk of perturbations is carried: `_NumpyRunner` (numpy, `carry._carry`) or
`_CompiledRunner` (numba, `kernel`), one chunk per core on threads when the work releases the GIL.
The kernel carries the identities of `kernel.ACT_CODES` and the mse and bce heads
(`outside_kernel`); every other convention runs on the numpy path.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

import numpy as np

from harness.network import Array
from harness.sources.finite_diff import kernel as _fd_kernel
from harness.sources.finite_diff.carry import _carry, _Net
from harness.sources.finite_diff.identities import Index, Mask, _kind, _Pool, _thread_pool
from harness.spec import NetworkSpec

_CHUNK: Final = 2**15  # float64 elements of one (perturbations, samples, neurons) block
_COMPILED_CHUNK: Final = 2**19  # (perturbation, sample) rows × the widest layer after l, per call
#: Losses the kernel's loss stage carries.
_KERNEL_LOSSES: Final = ("mse", "bce")
_Out = TypeVar("_Out")
_Five = tuple[Array, Array, Array, Array, Array]


def outside_kernel(spec: NetworkSpec) -> str | None:
    """What of ``spec`` the compiled kernel does not carry ("activation 'gelu'", "loss
    'cross_entropy'"), or None. Raises ValueError for an activation with no identity at all."""
    for name in spec.activations:
        if _kind(name) not in _fd_kernel.ACT_CODES:
            return f"activation {name!r}"
    if spec.loss.name not in _KERNEL_LOSSES:
        return f"loss {spec.loss.name!r}"
    return None


class _Runner:
    """Carries one chunk of perturbations: row ``i[c]`` of Z^(l) moves by ``t[c] X_src[k[c], s]``
    in sample s, with error ``|t[c]| E_src[k[c], s]`` (eps). Returns per perturbation and sample
    ΔJ and its bound (eps), and per perturbation whether a step crosses a kink."""

    threaded = False

    def __init__(self, net: _Net) -> None:
        self.net, self.m = net, int(net.head.two_r.shape[0])
        self._local = threading.local()

    @property
    def pool(self) -> _Pool:
        """This thread's work buffers."""
        return _thread_pool(self._local)

    def chunk(self, l: int) -> int:
        """Perturbations per call for layer l."""
        raise NotImplementedError

    def map(self, job: Callable[[Index], _Out], chunks: Sequence[Index]) -> Iterable[_Out]:
        """``job`` on every chunk, results in order: one chunk per core at a time if threaded."""
        if not self.threaded or len(chunks) < 2:
            return map(job, chunks)
        return list(_executor().map(job, chunks))

    def __call__(
        self, l: int, i: Index, k: Index, t: Array, X_src: Array, E_src: Array
    ) -> tuple[Array, Array, Mask]:
        raise NotImplementedError


class _NumpyRunner(_Runner):
    """`_carry` on (perturbations, samples, neurons) blocks of about _CHUNK elements."""

    def chunk(self, l: int) -> int:
        widest_after = max((w.shape[1] for w in self.net.WT[l + 2 :]), default=1)
        return max(1, _CHUNK // (widest_after * self.m))

    def __call__(
        self, l: int, i: Index, k: Index, t: Array, X_src: Array, E_src: Array
    ) -> tuple[Array, Array, Mask]:
        dZ = (t[:, None] * X_src[k])[:, :, None]
        E_Z = (np.abs(t)[:, None] * E_src[k])[:, :, None]
        return _carry(self.net, l, i, dZ, E_Z, self.pool)


class _CompiledRunner(_Runner):
    """The same stages as `_carry`, each one fused pass of `kernel` (numba) over a block of
    (perturbation, sample) rows, with numpy's GEMMs in between; one chunk per core at a time, on
    threads, with BLAS held to one thread (see `kernel`)."""

    threaded = True  # the stages release the GIL

    def __init__(self, net: _Net) -> None:
        super().__init__(net)
        m = self.m

        def per_sample(a: Array, n: int) -> Array:
            return np.ascontiguousarray(np.broadcast_to(a, (m, n)))

        self.layers: list[_Five] = []
        for x, w in zip(net.layers, net.WT):
            n = w.shape[1]
            P, Q, slope2, K, margin = (
                per_sample(a, n) for a in (x.P, x.Q, x.slope2, x.K, x.margin)
            )
            self.layers.append((P, Q, slope2, K, margin))
        n_L, h = net.WT[-1].shape[1], net.head
        self.head: _Five = (
            per_sample(h.two_r, n_L), per_sample(h.err_d, n_L), per_sample(h.S, n_L),
            per_sample(h.SY, n_L), per_sample(h.Y, n_L),
        )  # fmt: skip
        kinds = [x.name for x in net.layers]
        if net.head.loss not in _KERNEL_LOSSES or not set(kinds) <= set(_fd_kernel.ACT_CODES):
            raise ValueError(f"the compiled kernel does not carry {kinds} with {net.head.loss}")
        self.codes = [_fd_kernel.ACT_CODES[kind] for kind in kinds]

    def chunk(self, l: int) -> int:
        widest_after = max((w.shape[1] for w in self.net.WT[l + 1 :]), default=1)
        return max(1, _COMPILED_CHUNK // (widest_after * self.m))

    def __call__(
        self, l: int, i: Index, k: Index, t: Array, X_src: Array, E_src: Array
    ) -> tuple[Array, Array, Mask]:
        kernel, net, pool, m = _fd_kernel, self.net, self.pool, self.m
        L, bce, divisor = len(net.layers), net.head.loss == "bce", net.head.divisor
        C = i.shape[0]
        rows = i.astype(np.int64)
        kink = np.zeros(C, dtype=bool)
        dJ, E_J = np.empty((C, m)), np.empty((C, m))
        last = l == L - 1
        dA, G = pool(l, "dA", (C, m)), pool(l, "G", (C, m))
        kernel.first_stage(
            self.codes[l], last and bce, *self.layers[l], rows, k.astype(np.int64),
            np.ascontiguousarray(t, dtype=np.float64), X_src, E_src, 0.0 if last else 1.0,
            dA, G, kink,
        )  # fmt: skip
        if last:
            kernel.loss(
                bce, True, *self.head, rows, dA.reshape(-1, 1), G.reshape(-1, 1), m, divisor,
                dJ, E_J,
            )  # fmt: skip
            return dJ, E_J, kink
        q, e, abs_delta = l + 1, G, np.abs(dA)
        last = q == L - 1
        n_q = net.WT[q].shape[1]
        A_q, G_q = pool(q, "dA", (C * m, n_q)), pool(q, "G", (C * m, n_q))
        kernel.rank1_stage(
            self.codes[q],
            last and bce,
            last,
            net.WT[q],
            rows,
            dA,
            G,
            *self.layers[q],
            A_q,
            G_q,
            kink,
        )
        for q in range(l + 2, L):
            n_q = net.WT[q].shape[1]
            Z, E_Z = pool(q, "dZ", (C * m, n_q)), pool(q, "E", (C * m, n_q))
            np.matmul(A_q, net.WT[q], out=Z)
            if q == l + 2:
                M = net.M[l]
                assert M is not None
                kernel.m_bound(M[0], M[1], rows, e, abs_delta, E_Z)
            else:
                np.matmul(G_q, net.abs_WT[q], out=E_Z)
            if q == L - 1 and bce:
                A_q, G_q = Z, E_Z
                break
            extra = 0.0 if q == L - 1 else n_q + 1.0
            A_q, G_q = pool(q, "dA", (C * m, n_q)), pool(q, "G", (C * m, n_q))
            kernel.stage(self.codes[q], m, *self.layers[q], Z, E_Z, extra, A_q, G_q, kink)
        kernel.loss(bce, False, *self.head, rows, A_q, G_q, m, divisor, dJ, E_J)
        return dJ, E_J, kink


@functools.cache
def _executor() -> ThreadPoolExecutor:
    """One worker per core this process may use, kept for the process's life."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ThreadPoolExecutor(max_workers=max(1, cores or 1), thread_name_prefix="finite_diff")
