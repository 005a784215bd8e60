"""Two trees of this repository timed turn about: is one slower than the other?

    python tests/bench/ab.py OLD_TREE NEW_TREE [--cases D:compiled,E:compiled,D:numpy,E:verdict]
                             [--rounds 30]

A worker process per tree imports *that tree's* harness (the tree first on sys.path), warms every
case up, then times one call at a time on request. The driver alternates the trees call by call
and swaps which goes first each round, so both see the same load; it prints the minimum and the
20th percentile per case and tree. Timing one tree's run after the other's cannot resolve a 10 %
difference on a shared 2-core machine (single runs swing by 30-50 %); this can. Make the old tree
with ``git worktree add /tmp/old <commit>``. Cases: ``ARCH:compiled`` / ``ARCH:numpy``
(finite_diff.estimate with that kernel), ``ARCH:verdict`` (check(reference.backward, problem)),
ARCH one of tests.bench.problems.ARCHS. Measured here, never asserted by a test.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _worker(root: str) -> None:
    sys.path.insert(0, root)
    import harness

    assert harness.__file__ is not None and harness.__file__.startswith(root), harness.__file__
    import reference
    from harness import check
    from harness.sources import finite_diff
    from tests.bench.problems import problem_of

    def call(case: str) -> Any:
        arch, what = case.split(":")
        problem = problem_of(arch)
        if what == "verdict":
            return lambda: check(reference.backward, problem)
        return lambda: finite_diff.estimate(problem, kernel=what)

    calls: dict[str, Any] = {}
    for line in sys.stdin:
        case = line.strip()
        if case not in calls:
            calls[case] = call(case)
            calls[case]()  # warm-up: JIT, caches
        start = time.perf_counter()
        calls[case]()
        print(time.perf_counter() - start, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs=2, help="OLD_TREE NEW_TREE (checkouts of this repository)")
    parser.add_argument("--cases", default="D:compiled,E:compiled,D:numpy,E:verdict")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    roots = [str(Path(t).resolve()) for t in args.trees]
    workers = {
        root: subprocess.Popen(
            [sys.executable, __file__, "--worker", root],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for root in roots
    }  # fmt: skip
    times: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    cases = args.cases.split(",")
    for i in range(args.rounds):
        for case in cases:
            for root in roots if i % 2 == 0 else roots[::-1]:
                worker = workers[root]
                assert worker.stdin is not None and worker.stdout is not None
                worker.stdin.write(case + "\n")
                worker.stdin.flush()
                times[(case, root)].append(float(worker.stdout.readline()))
    for case in cases:
        cells = []
        for root in roots:
            ts = sorted(times[(case, root)])
            cells.append(f"{root}: min {ts[0] * 1e3:.1f} ms, p20 {ts[len(ts) // 5] * 1e3:.1f} ms")
        old, new = (min(times[(case, root)]) for root in roots)
        print(f"{case:12} {'   '.join(cells)}   new/old {new / old:.3f}")
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _worker(sys.argv[sys.argv.index("--worker") + 1])
    else:
        main()
