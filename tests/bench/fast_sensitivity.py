"""What fast mode catches on arch E, tensor by tensor (issue 6, part 2).

For a sample of entries of every tensor (all of them when the tensor is small), one entry of the
reference's gradient is made wrong and counted as caught only if `fast_check` names exactly that
entry. Both readings of "off by 1e-4": relative to the entry itself (entry × (1 + 1e-4)) and to the
tensor's scale (|Δ| = 1e-4 · max|g|); plus the smallest relative error caught for the tensor's
median and largest entry (bisection on a log scale). Not collected by pytest; it takes some
minutes: ``python -m tests.bench.fast_sensitivity [--sample 300]``.
"""

from __future__ import annotations

import argparse

import numpy as np

import reference
from harness import NetworkSpec, Problem, fast_check
from harness.fast import false_alarm_lambda
from harness.network import Array

E = NetworkSpec((64, 128, 128, 10), ("tanh", "tanh", "sigmoid"), "mse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=300, help="entries per tensor")
    parser.add_argument("--seed", type=int, default=1, help="which entries are sampled")
    args = parser.parse_args()
    problem = Problem.random(E, 64, seed=0)
    grads = reference.backward(problem.params, problem.X, problem.Y, E.activations, E.loss)
    rng = np.random.default_rng(args.seed)

    def caught(l: int, k: int, flat: int, delta: float) -> bool:
        bad = [(dW.copy(), db.copy()) for dW, db in grads]
        index = np.unravel_index(flat, bad[l][k].shape)
        bad[l][k][index] += delta
        located = [(e.layer, e.param, e.index) for e in fast_check(bad, problem, seed=0).located]
        return located == [(l + 1, "Wb"[k], tuple(int(i) for i in index))]

    def smallest(l: int, k: int, flat: int) -> float:
        size = abs(float(grads[l][k].ravel()[flat]))
        lo, hi = 1e-9, 1.0
        for _ in range(18):
            mid = float(np.sqrt(lo * hi))
            lo, hi = (lo, mid) if caught(l, k, flat, size * mid) else (mid, hi)
        return hi

    print(f"lambda {false_alarm_lambda(problem):.3f}; {args.sample} entries per tensor at most")
    print(
        "| tensor | entries | 1e-4 of the entry: caught | smallest caught, median entry "
        "| smallest caught, largest entry | 1e-4 of max|g|: caught |"
    )
    print("|---|---|---|---|---|---|")
    for l in range(E.depth):
        for k in range(2):
            t: Array = grads[l][k].ravel()
            n = t.size
            sample = np.arange(n) if n <= args.sample else rng.choice(n, args.sample, False)
            own = np.mean([caught(l, k, int(i), 1e-4 * t[i]) for i in sample])
            scale = 1e-4 * float(np.abs(t).max())
            of_max = np.mean([caught(l, k, int(i), scale) for i in sample])
            order = np.argsort(np.abs(t))
            median, largest = int(order[n // 2]), int(order[-1])
            print(
                f"| layer {l + 1} d{'Wb'[k]} | {n} | {own:.0%} | {smallest(l, k, median):.1e} "
                f"| {smallest(l, k, largest):.1e} | {of_max:.0%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
