"""The benchmark's machinery runs and writes well-formed files (arch A, our figures only).

Nothing is timed or compared with a speed here: the figures only have to be there and finite.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_writes_bench_md_and_bench_json(tmp_path: Path) -> None:
    options = ["--archs", "A", "--skip-competitors", "--repeat", "1", "--quick"]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench", *options, "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink())
    assert (tmp_path / "latest").resolve() == run_dir.resolve()
    assert sorted(p.name for p in run_dir.iterdir()) == ["bench.json", "bench.md"]

    data = json.loads((run_dir / "bench.json").read_text(encoding="utf-8"))
    assert data["run_id"] == run_dir.name
    assert data["problem_matches_issue"] is True
    assert data["settings"]["archs"] == ["A"]
    assert math.isfinite(data["machine"]["gemm"]["flops_per_s"]) and data["total_s"] > 0
    arch = data["archs"]["A"]
    assert (arch["sizes"], arch["m"], arch["params"]) == ([2, 3, 1], 4, 13)
    assert arch["fd_flops"] == 0  # two layers: every layer's change is at most a rank-1 update
    assert arch["competitors"] == {}
    for key in ("closed_form", "symbolic_cold", "symbolic_warm", "fd_numpy", "fd_cold_numpy"):
        figure = arch["ours"][key]
        assert (
            len(figure["samples"]) == 1 and math.isfinite(figure["median"]) and figure["median"] > 0
        )
    for key in ("closed_form", "symbolic_warm", "fd_numpy"):
        assert arch["ours"][key]["error"] < 1e-12
    assert arch["ours"]["verdict"]["passed"] is True
    assert set(data["growth"]) == set(arch["ours"])  # one arch: no exponent can be fitted
    assert all(k is None for k in data["growth"].values())

    md = (run_dir / "bench.md").read_text(encoding="utf-8")
    boundary = data["isolation"]
    (row,) = boundary["per_call"]
    assert row["arch"] == "A" and row["calls"] == 30
    assert all(math.isfinite(row[k]) and row[k] > 0 for k in ("process_s", "inline_s"))
    assert boundary["throughput"]["process_per_s"] > 0 and boundary["throughput"]["ratio"] > 0
    headings = ("## Our sources", "## Side by side", "## Errors", "## FLOP floor", "## Growth",
                "## The worker process")  # fmt: skip
    for heading in headings:
        assert heading in md
    assert run_dir.name in md and md in proc.stdout


def test_sensitivity_script_prints_every_column_and_catches_1e4_errors(tmp_path: Path) -> None:
    """tests/bench/sensitivity.py on arch A, every entry: the table has a row per mode and a
    column per (ε, reading); the unmodified reference passes; an entry off by 1e-4 of itself is
    caught in both modes; a 1e-8 relative error is not a mismatch (issue 12: within the
    precision band); and one missed injection re-judged here gets the status the script saw."""
    import reference
    from harness.compare import compare, evaluate_sources
    from tests.bench.problems import problem_of
    from tests.bench.sensitivity import EPSILONS, KINDS

    out = tmp_path / "sensitivity.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.sensitivity", "--archs", "A", "--sample", "13",
         "--seed", "3", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| arch"))
    for eps in EPSILONS:
        for label in KINDS.values():
            assert f"| {eps:.0e} {label} |" in header
    assert [line.split("|")[2].strip() for line in proc.stdout.splitlines()
            if line.startswith("| A ")] == ["full", "fast"]  # fmt: skip

    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data["git"]["commit"]) == 40 and data["total_s"] > 0
    rows = {row["mode"]: row for row in data["rows"]}
    assert set(rows) == {"full", "fast"}
    for row in rows.values():
        assert row["sampled"] == 13  # every entry of (2, 3, 1)
        assert set(row["reference_statuses"]) <= {"ok", "passed"}
        assert len(row["cells"]) == len(EPSILONS) * len(KINDS)
        for cell in row["cells"].values():
            assert cell["tried"] + cell["unchanged"] == 13
            assert sum(cell["outcomes"].values()) == 13 and 0 <= cell["caught"] <= cell["tried"]
            assert len(cell["per_tensor"]) == 4  # dW and db of both layers
        assert row["cells"]["1e-04/self"]["share"] >= 0.9, row["cells"]["1e-04/self"]
    full = rows["full"]["cells"]
    assert full["1e-08/self"]["share"] < full["1e-04/self"]["share"]
    for kind in KINDS:  # full mode: a larger error on the same entries is caught as often
        shares = [full[f"{eps:.0e}/{kind}"]["share"] for eps in EPSILONS]
        assert shares == sorted(shares, reverse=True), (kind, shares)

    missed = full["1e-08/self"]["missed"][0]
    problem = problem_of("A")
    spec = problem.spec
    grads = reference.backward(problem.params, problem.X, problem.Y, spec.activations, "mse")
    layer, param = int(missed["tensor"].split()[1]), missed["tensor"][-1]
    k = "Wb".index(param)
    bad = [(dW.copy(), db.copy()) for dW, db in grads]
    bad[layer - 1][k][tuple(missed["index"])] *= 1.0 + 1e-8
    records = compare(problem, bad, evaluate_sources(problem))
    (mine,) = (r for r in records if (r.layer, r.param) == (layer, param))
    assert mine.status == missed["outcome"] != "mismatch"
    assert missed["g"] == float(grads[layer - 1][k][tuple(missed["index"])])
