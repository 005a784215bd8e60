"""How many threads BLAS may use while the harness computes: one.

Every GEMM the harness makes is small (one layer of one problem, or one chunk of perturbations),
and on a machine with few cores a multi-threaded BLAS spends more time waking and spinning its
threads than computing — the more so beside the finite-difference kernel's own threads or any
other load. Measured on a 2-core machine, arch (64, 128, 128, 10) with 64 samples: one forward
pass 15 ms with OpenBLAS's two threads under load, 0.1 ms with one; every finite difference 2.3 s
against 0.24 s. The limit is process-wide while it lasts (threadpoolctl), and restored after.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]


def one_blas_thread() -> AbstractContextManager[object]:
    """A context in which BLAS runs on one thread (nests; restores the previous count)."""
    limit: AbstractContextManager[object] = _controller().limit(limits=1, user_api="blas")
    return limit


@functools.cache
def _controller() -> ThreadpoolController:
    return ThreadpoolController()  # finds the loaded BLAS libraries once (some ms)
