"""What machine the figures come from, and how fast its BLAS multiplies float64 matrices."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from typing import Any

import numpy as np

#: Distributions whose versions the report records.
DISTRIBUTIONS = (
    "gradcheck-harness",
    "numpy",
    "sympy",
    "numba",
    "torch",
    "jax",
    "jaxlib",
    "numdifftools",
    "threadpoolctl",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found


def blas() -> dict[str, Any]:
    """numpy's BLAS (name, version, config) and its thread count, as far as it can be told."""
    info: dict[str, Any] = {}
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.update(
            name=config.get("name"),
            version=config.get("version"),
            config=config.get("openblas configuration"),
        )
    except Exception as exc:  # show_config's layout is not a stable API
        info["name"] = f"unknown ({type(exc).__name__})"
    info["threads"], info["threads_source"] = blas_threads()
    return info


def blas_threads() -> tuple[int | None, str]:
    """numpy's BLAS thread count and where it was read (threadpoolctl, or the environment)."""
    try:
        import threadpoolctl
    except ImportError:
        pass
    else:
        for pool in threadpoolctl.threadpool_info():
            if pool.get("user_api") == "blas":
                return int(pool["num_threads"]), f"threadpoolctl ({pool.get('internal_api')})"
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var]), f"${var}"
    return None, "not set (OpenBLAS default: one per core)"


def numba_threads() -> int | None:
    try:
        import numba
    except ImportError:
        return None
    return int(numba.get_num_threads())


def gemm_rate(n: int = 2048, repeat: int = 5) -> dict[str, Any]:
    """Best-of-``repeat`` float64 GEMM rate of numpy's BLAS on n×n @ n×n, in FLOP/s."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    out = np.empty((n, n))
    np.matmul(A, B, out=out)  # warm-up: threads started, pages touched
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.matmul(A, B, out=out)
        best = min(best, time.perf_counter() - start)
    return {"n": n, "repeat": repeat, "seconds": best, "flops_per_s": 2.0 * n**3 / best}


def machine_info() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "blas": blas(),
        "numba_threads": numba_threads(),
        "versions": versions(),
    }
