"""Extra memory of `finite_diff.estimate` on issue 6's largest arch, (784, 256, 256, 10), m=128.

Each kernel runs in a fresh child process (``python -m tests.bench.memory --child KERNEL``): the
peak resident set size (``ru_maxrss``) minus the resident set size just before the call, after a
small warm-up estimate has loaded numba's compiled stages and every import. Resident memory, not
tracemalloc: numba's and BLAS's allocations are not Python's. Run ``python -m tests.bench.memory``
(it takes a minute or two: every entry of 269k parameters, 128 samples).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SIZES = (784, 256, 256, 10)
BATCH = 128


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def child(kernel: str) -> dict[str, Any]:
    from harness import NetworkSpec, Problem
    from harness.sources import finite_diff

    acts = ("tanh",) * (len(SIZES) - 2) + ("sigmoid",)
    problem = Problem.random(NetworkSpec(SIZES, acts, "mse"), BATCH, seed=0)
    warm = Problem.random(NetworkSpec((3, 4, 4, 2), acts, "mse"), 4, seed=0)
    finite_diff.estimate(warm, kernel=kernel)
    before = _rss_mib()
    start = time.perf_counter()
    est = finite_diff.estimate(problem, kernel=kernel)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = sum(a.nbytes + b.nbytes for t in (est.grads, est.bound, est.step) for a, b in t)
    return {
        "kernel": kernel,
        "sizes": list(SIZES),
        "batch": BATCH,
        "seconds": seconds,
        "rss_before_mib": before,
        "peak_mib": peak,
        "extra_mib": peak - before,
        "result_mib": result / 2**20,
    }


def measure(kernels: list[str]) -> list[dict[str, Any]]:
    rows = []
    for kernel in kernels:
        out = subprocess.run(
            [sys.executable, "-m", "tests.bench.memory", "--child", kernel],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kernels", default="compiled,numpy", help="comma-separated")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    for row in measure(args.kernels.split(",")):
        print(
            f"{row['kernel']:>9}: extra {row['extra_mib']:.0f} MiB (peak {row['peak_mib']:.0f}, "
            f"before {row['rss_before_mib']:.0f}; result arrays {row['result_mib']:.0f}), "
            f"{row['seconds']:.1f} s"
        )


if __name__ == "__main__":
    main()
