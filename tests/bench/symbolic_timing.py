"""Timing of the SymPy source (issue 6, part 3). Not collected by pytest; run it by hand.

    python tests/bench/symbolic_timing.py [--repeat 5] [--depth 8] [--disk DIR]

Prints medians of: arch E cold (every SymPy and module cache cleared, then one
``symbolic.gradients``), arch E warm (evaluation only), and the cold build of all 2·depth
derivatives of one depth. With ``--disk DIR`` the cold figures are also taken with the on-disk
cache in DIR warm (module caches cleared, files kept).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable

from harness import NetworkSpec, Problem
from harness.sources import symbolic
from tests.bench.ours import clear_symbolic_caches, samples

E = NetworkSpec((64, 128, 128, 10), ("tanh", "tanh", "sigmoid"), "mse")


def median(
    fn: Callable[[], object], repeat: int, before: Callable[[], None] | None = None
) -> float:
    return statistics.median(samples(fn, repeat, before))


def build_all(depth: int) -> None:
    for layer in range(1, depth + 1):
        for tensor in "Wb":
            symbolic.derivative(depth, layer, tensor)


def run(label: str, repeat: int, depth: int) -> None:
    problem = Problem.random(E, 64, seed=0)
    cold = median(lambda: symbolic.gradients(problem), repeat, clear_symbolic_caches)
    symbolic.gradients(problem)
    warm = median(lambda: symbolic.gradients(problem), max(repeat, 20))
    build = median(lambda: build_all(depth), repeat, clear_symbolic_caches)
    print(
        f"{label:<22} E cold {cold * 1e3:8.1f} ms   E warm {warm * 1e3:7.2f} ms   "
        f"depth {depth} build cold {build:6.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--disk", action="store_true", help="also time with a warm disk cache")
    args = parser.parse_args()
    os.environ.pop("GRADCHECK_SYMBOLIC_CACHE", None)
    run("no disk cache", args.repeat, args.depth)
    if args.disk:
        with tempfile.TemporaryDirectory() as root:
            os.environ["GRADCHECK_SYMBOLIC_CACHE"] = root
            clear_symbolic_caches()
            build_all(args.depth)
            symbolic.gradients(Problem.random(E, 64, seed=0))  # fills the disk cache
            run("disk cache warm", args.repeat, args.depth)
            del os.environ["GRADCHECK_SYMBOLIC_CACHE"]


if __name__ == "__main__":
    main()
