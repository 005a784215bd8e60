"""Time our sources, fast mode and the whole verdict on archs A-E, beside torch, jax,
numdifftools and naive SymPy, in one run (issue 6).

    nox -s bench [-- OPTIONS]       or       python -m tests.bench [OPTIONS]

Prints the tables on stdout (progress on stderr) and writes ``bench.md`` and ``bench.json`` to
``reports/bench/<run-id>/`` (``--out`` to change the root). Speed is measured here and never
asserted in a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python tests/bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import disagreements, isolation, machine, memory, ours, output
from tests.bench.boxed import run_boxed
from tests.bench.competitors import LONG_RUN, METHODS
from tests.bench.problems import ARCHS, fd_gemm_flops, matches_issue, problem_of

ROOT = Path(__file__).resolve().parents[2]
_START = time.monotonic()
COMPETITOR_RUNS = 3  # timed runs after a warm-up, unless the first run is over LONG_RUN


def log(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f} s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="runs per figure of ours, median (default 5; --quick 3)",
    )
    parser.add_argument(
        "--time-box",
        type=float,
        default=None,
        help="seconds one competitor run may take (default 150; --quick 30)",
    )
    parser.add_argument(
        "--archs", default=",".join(ARCHS), help="subset of A,B,C,D,E (default all)"
    )
    parser.add_argument("--skip-competitors", action="store_true", help="only our own figures")
    parser.add_argument(
        "--skip-memory",
        action="store_true",
        help="no extra-memory measurement on (784,256,256,10) m=128 (a minute or two)",
    )
    parser.add_argument(
        "--skip-disagreements",
        action="store_true",
        help="leave out the sources' disagreement section",
    )
    parser.add_argument(
        "--skip-isolation",
        action="store_true",
        help="no worker-process overhead section (per call on A and E, verify throughput)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="repeat 3, time box 30 s, small GEMM probe, no disagreement section",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports" / "bench", help="root of the run directories"
    )
    args = parser.parse_args(argv)
    args.archs = [a.strip().upper() for a in args.archs.split(",") if a.strip()]
    unknown = [a for a in args.archs if a not in ARCHS]
    if unknown or not args.archs:
        parser.error(f"--archs: unknown {unknown}; choose from {','.join(ARCHS)}")
    args.archs = [a for a in ARCHS if a in args.archs]  # increasing P: the box skip relies on it
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.time_box is None:
        args.time_box = 30.0 if args.quick else 150.0
    if args.repeat < 1 or args.time_box <= 0:
        parser.error("--repeat must be >= 1 and --time-box > 0")
    args.skip_disagreements = args.skip_disagreements or args.quick
    return args


def competitors(args: argparse.Namespace, torch_threads: int) -> dict[str, dict[str, Any]]:
    """``{arch: {method: result}}``; once a method is over the box, larger archs are not run."""
    found: dict[str, dict[str, Any]] = {a: {} for a in args.archs}
    for method in METHODS:
        over = None
        for arch in args.archs:
            if over is not None:
                found[arch][method] = {
                    "status": "over-box",
                    "samples": [],
                    "median": None,
                    "box_s": args.time_box,
                    "skipped": f"over the box on {over}",
                }
                continue
            log(f"competitor {method} on {arch} (box {args.time_box:g} s) ...")
            result = run_boxed(method, arch, args.time_box, COMPETITOR_RUNS, torch_threads)
            found[arch][method] = result
            log(f"  {method} {arch}: {result['status']} {output.seconds(result['median'])}")
            if result["median"] is None:
                over = arch
    return found


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ours.disable_symbolic_disk_cache()
    info = machine.machine_info()
    log(f"GEMM rate probe ({'quick' if args.quick else 'n=2048, best of 5'}) ...")
    info["gemm"] = machine.gemm_rate(1024, 3) if args.quick else machine.gemm_rate()
    log(f"  {info['gemm']['flops_per_s'] / 1e9:.1f} GFLOP/s")
    torch_threads = info["blas"]["threads"] or os.cpu_count() or 1
    kernels = ours.fd_kernels()
    archs: dict[str, Any] = {}
    for arch in args.archs:
        sizes, m = ARCHS[arch]
        problem = problem_of(arch)
        log(f"ours on {arch} {sizes} m={m} P={problem.spec.n_params} ...")
        flops = fd_gemm_flops(sizes, m)
        archs[arch] = {
            "sizes": list(sizes),
            "m": m,
            "params": problem.spec.n_params,
            "fd_kernel": "compiled" if kernels["compiled"] is not None else "numpy",
            "fd_flops": flops,
            "floor_s": flops / info["gemm"]["flops_per_s"],
            "ours": ours.measure(arch, problem, args.repeat, log),
            "competitors": {},
        }
    if not args.skip_competitors:
        for arch, results in competitors(args, torch_threads).items():
            archs[arch]["competitors"] = results
    section = None
    if not args.skip_disagreements:
        log("disagreement between sources (144 small problems) ...")
        section = disagreements.disagreements()
    boundary = None
    if not args.skip_isolation:
        on = [a for a in ("A", "E") if a in args.archs] or args.archs[:1]
        boundary = isolation.measure(
            on,
            calls=30 if args.quick else 300,
            examples=40 if args.quick else 1000,
            rounds=1 if args.quick else 3,
            log=log,
        )
    memory_rows = None
    if not (args.skip_memory or args.quick):
        which = [k for k in ("compiled", "numpy") if kernels[k] is not None]
        log(f"extra memory of finite differences, {', '.join(which)} ...")
        memory_rows = memory.measure(which)
    growth = {
        key: output.fit_exponent([(a["params"], a["ours"][key]["median"]) for a in archs.values()])
        for key in ours.FIGURES
    }
    data: dict[str, Any] = {
        "schema_version": output.SCHEMA_VERSION,
        "run_id": None,
        "started_utc": started,
        "total_s": None,
        "settings": {
            "repeat": args.repeat,
            "time_box": args.time_box,
            "archs": args.archs,
            "skip_competitors": args.skip_competitors,
            "quick": args.quick,
            "competitor_runs": COMPETITOR_RUNS,
            "competitor_long_run_s": LONG_RUN,
            "torch_threads": torch_threads,
        },
        "machine": info,
        "problem_matches_issue": all(matches_issue(a) for a in args.archs),
        "archs": archs,
        "growth": growth,
        "disagreements": section,
        "memory": memory_rows,
        "isolation": boundary,
    }
    run_dir = output.new_run_dir(args.out)
    data["run_id"] = run_dir.name
    data["total_s"] = time.monotonic() - _START
    lines = disagreements.lines(section) if section else None
    md = output.markdown(data, lines)
    output.write(run_dir, data, md)
    print(md)
    log(f"wrote {run_dir / 'bench.md'} and bench.json")
    return run_dir


if __name__ == "__main__":
    main()
