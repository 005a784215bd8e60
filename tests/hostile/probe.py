"""Run a hostile candidate outside the harness, in plain Python, and say what it did.

    python tests/hostile/probe.py NAME [NAME ...]      # e.g. out_own_buffers
    python tests/hostile/probe.py --calls 3 camp_one_time_raise

Each candidate runs in a child process of its own (so the ones that crash, hang or exit only
end that child, killed after 20 s); the probe prints, per call, whether it returned or raised
and how far what it returned is from `reference.backward` — read at return by unpacking
(``for dW, db in out``) and by indexing (``out[l][0]``), and again 100 ms later — whether it
wrote into its inputs, which harness/numpy/json attributes it replaced, and the child's exit
status or signal. This is how the table's claims ("a segfault", "first call wrong, fixed by
the second", "fools the unisolated harness"…) were checked; it is not part of the suite.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _gap(output: Any, truth: list[tuple[Any, Any]], by: str) -> str:
    import numpy as np

    try:
        if by == "unpack":
            pairs = [(np.array(dW, dtype=float), np.array(db, dtype=float)) for dW, db in output]
        else:
            pairs = [
                (np.array(output[l][0], dtype=float), np.array(output[l][1], dtype=float))
                for l in range(len(output))
            ]
        gaps = [
            float(np.max(np.abs(a - t))) for pair, tpair in zip(pairs, truth)
            for a, t in zip(pair, tpair)
        ]  # fmt: skip
        if len(pairs) != len(truth):
            return f"{len(pairs)} layers, expected {len(truth)}"
        return f"max |Δ| {max(gaps):.3g}"
    except Exception as error:
        return f"unreadable ({type(error).__name__}: {error})"


def _child(name: str, calls: int) -> None:
    sys.path.insert(0, str(HERE))
    import importlib.util

    import numpy as np
    from api_driver import WATCHED, _lookup

    import reference
    from harness import NetworkSpec, Problem

    watched = {(m, p): _lookup(m, p) for m, p in WATCHED}
    print(f"[{name}] importing", flush=True)
    spec = importlib.util.spec_from_file_location(name, HERE / "candidates" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    backward = module.backward
    print(f"[{name}] imported; backward is {type(backward).__name__}", flush=True)
    problem = Problem.random(NetworkSpec((2, 3, 1), ("tanh", "sigmoid"), "mse"), 4, 1)
    activations = list(problem.spec.activations)
    truth = reference.backward(
        [(np.array(W), np.array(b)) for W, b in problem.params],
        np.array(problem.X), np.array(problem.Y), activations, "mse",
    )  # fmt: skip
    outputs = []
    for call in range(1, calls + 1):
        params = [(np.array(W), np.array(b)) for W, b in problem.params]
        X, Y = np.array(problem.X), np.array(problem.Y)
        start = time.monotonic()
        try:
            output = backward(params, X, Y, activations, "mse")
        except BaseException as error:
            print(f"[{name}] call {call}: raised {type(error).__name__}: {error}", flush=True)
            continue
        took = time.monotonic() - start
        unpacked, indexed = _gap(output, truth, "unpack"), _gap(output, truth, "index")
        changed = [
            n for n, new, old in (("X", X, problem.X), ("Y", Y, problem.Y))
            if not np.array_equal(new, old)
        ] + [
            f"W{l}/b{l}" for l, ((W, b), (W0, b0)) in enumerate(zip(params, problem.params), 1)
            if not (np.array_equal(W, W0) and np.array_equal(b, b0))
        ]  # fmt: skip
        print(
            f"[{name}] call {call}: returned {type(output).__name__} in {took:.2f} s; "
            f"read by unpacking: {unpacked}; by indexing: {indexed}; "
            f"inputs written: {changed or 'none'}",
            flush=True,
        )
        outputs.append((call, output))
    time.sleep(0.1)
    for call, output in outputs[:1]:
        print(f"[{name}] call {call}'s output 100 ms later: {_gap(output, truth, 'index')}")
    tampered = [f"{m}.{p}" for (m, p), v in watched.items() if _lookup(m, p) is not v]
    print(f"[{name}] replaced: {tampered or 'nothing'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.names[0], args.calls)
        return
    for name in args.names:
        command = [sys.executable, __file__, "--child", "--calls", str(args.calls), name]
        proc = subprocess.Popen(command, start_new_session=True)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print(f"[{name}] still running after 20 s: killed")
            continue
        how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}"
        print(json.dumps({"candidate": name, "child": how}))


if __name__ == "__main__":
    main()
