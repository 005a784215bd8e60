"""Mutation testing of `reference/backprop.py` against `gradcheck-harness verify --profile quick`.

Why a driver and not `mutmut run`: mutmut 3 runs *pytest* inside its `mutants/` copy and switches
mutants through trampolines that exist only for functions and methods, so it never runs the
mutants of module-level code — and the activations' derivatives of `reference/backprop.py` are
lambdas in the module-level `_ACTIVATIONS` dict, the code that most needs testing. So this driver
uses **mutmut's own mutation generator** (`mutmut.mutation.file_mutation.create_mutations`, the
same libcst operators `mutmut run` applies) to make every mutant as a whole mutated file, plus a
few extra mutants mutmut's operators do not make (`@` → `*`, `.T` dropped, `axis=1` → `axis=0`,
`sum` → `mean`, `/ m` dropped, ...; listed in `EXTRA`, marked ``extra`` in the report).

Each mutant is written into its own temporary copy of the repository (``reference/`` and
``harness/``; the work tree is never touched) and judged by the real CLI,
``python -m harness.cli verify --profile quick --report-dir <tmp>``, run with that copy first on
PYTHONPATH and as the working directory:

- exit 1: **killed** (a mismatch; a crash of the candidate is a finding, so it exits 1 too)
- exit 2: **killed (load)**: the mutated module cannot be loaded as a candidate, or the campaign
  calls it a usage error (`harness.usage`: e.g. every gradient exactly ½ of the expected one, the
  ½·MSE convention)
- exit 0: **survived**
- no exit within ``--timeout`` seconds: **timeout** (counted as not killed)

Score = killed / mutants. The unmutated file is run first and must exit 0, else nothing is judged.

    python tests/mutation/run_mutation.py                 # all mutants, 2 jobs, quick profile
    python tests/mutation/run_mutation.py --list          # print the mutants only
    python tests/mutation/run_mutation.py --only 12,40 --examples 500 --jobs 4

Writes ``<out>/results.json`` and ``<out>/summary.md`` (survivors with their diffs and, for known
ones, the reason from ``tests/mutation/survivors.py``). Exit status 0 when the score is at least
``--min-score`` and every survivor has a recorded reason, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = "reference/backprop.py"
COPIED = ("reference", "harness")  # what a mutant's copy of the repository needs to run the CLI

#: Mutants mutmut's operators do not make: (label, old text, new text); the old text must occur
#: exactly once in the target.
EXTRA: tuple[tuple[str, str, str], ...] = (
    ("matmul → elementwise in dJ_dW", "dJ_dZ @ A_prev.T", "dJ_dZ * A_prev.T"),
    ("drop .T in dJ_dW", "dJ_dZ @ A_prev.T", "dJ_dZ @ A_prev"),
    ("dJ_dW operands swapped", "dJ_dZ @ A_prev.T", "(A_prev @ dJ_dZ.T).T"),
    ("drop .T in dJ_dA_prev", "W.T @ dJ_dZ", "W @ dJ_dZ"),
    ("dJ_dB over axis 0", "dJ_dZ.sum(axis=1)", "dJ_dZ.sum(axis=0)"),
    ("dJ_dB mean not sum", "dJ_dZ.sum(axis=1)", "dJ_dZ.mean(axis=1)"),
    ("mse: drop the divisor", "2.0 * (A_L - Y) / divisor", "2.0 * (A_L - Y)"),
    ("mse: the ½ convention", "2.0 * (A_L - Y) / divisor", "(A_L - Y) / divisor"),
    ("bce: drop the divisor", "return (A_L - Y) / divisor", "return A_L - Y"),
    ("bce: Y - A", "return (A_L - Y) / divisor", "return (Y - A_L) / divisor"),
    ("elementwise_mean as mean", "base = m * n_L", "base = m"),
    ("l2 with the ½ kept", "dJ_dW += l2 * W", "dJ_dW += 0.5 * l2 * W"),
    ("cross_entropy as A - Y", "(A_L * sum_Y - Y) / divisor", "(A_L - Y) / divisor"),
    (
        "softmax Jacobian as its diagonal",
        "A * (dJ_dA - np.sum(A * dJ_dA, axis=0, keepdims=True))",
        "A * (1.0 - A) * dJ_dA",
    ),
    ("gelu' = Φ", "return _Phi(Z) + Z * _phi(Z)", "return _Phi(Z)"),
    ("silu' = σ", "return _sigmoid(Z) + Z * _sigmoid_prime(Z)", "return _sigmoid(Z)"),
    (
        "elu' = e^z - 1",
        "np.where(Z > 0, 1.0, np.exp(np.minimum(Z, 0.0)))",
        "np.where(Z > 0, 1.0, np.expm1(np.minimum(Z, 0.0)))",
    ),
    ("m from rows", "m = X.shape[1]", "m = X.shape[0]"),
    ("leaky slope 0.02", "_LEAKY_SLOPE = 0.01", "_LEAKY_SLOPE = 0.02"),
    ("leaky slope 0.1", "_LEAKY_SLOPE = 0.01", "_LEAKY_SLOPE = 0.1"),
    ("sigmoid g': denominator not squared", "return E / (1.0 + E) ** 2", "return E / (1.0 + E)"),
    ("sigmoid g' = 1 - g", "return E / (1.0 + E) ** 2", "return 1.0 - _sigmoid(Z)"),
    ("tanh g' = 1 - tanh", "return 4.0 * E / (1.0 + E) ** 2", "return 1.0 - np.tanh(Z)"),
    ("tanh g' = sech", "return 4.0 * E / (1.0 + E) ** 2", "return 2.0 * np.sqrt(E) / (1.0 + E)"),
    (
        "softplus g' = σ(-Z)",
        "np.logaddexp(0.0, Z), _sigmoid)",
        "np.logaddexp(0.0, Z), lambda Z: _sigmoid(-Z))",
    ),
    ("relu g' = Z", "(Z > 0).astype(np.float64)", "np.maximum(Z, 0.0)"),
    ("bias broadcast over samples", "b[:, None]", "b"),
    ("g' at A not Z (hidden)", "[1](Z_prev)", "[1](cache[l - 1][1])"),
    ("g' at A not Z (output)", "[1](Z_L)", "[1](A_L)"),
    ("W of the layer below", "W, _ = params[l]", "W, _ = params[l - 1]"),
)


@dataclass
class Mutant:
    index: int
    origin: str  # "mutmut" or "extra"
    where: str  # the enclosing top-level function, or <module>
    label: str
    diff: str
    source: str


@dataclass
class Outcome:
    index: int
    origin: str
    where: str
    label: str
    diff: str
    status: str  # killed | killed (load) | survived | timeout
    exit: int | None
    seconds: float
    tail: str  # the last lines the CLI printed


def _diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), TARGET, TARGET, lineterm="", n=0
    )
    return "\n".join(line for line in lines if not line.startswith("@@"))


def _mutmut_mutants(source: str) -> list[tuple[str, str]]:
    """(enclosing function, mutated source) for every mutation mutmut's operators make."""
    # mutmut reads its config from the working directory at import/use time; give it one.
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, "setup.cfg").write_text("[mutmut]\nsource_paths=reference/\n")
        Path(scratch, "reference").mkdir()
        cwd = os.getcwd()
        os.chdir(scratch)
        try:
            from mutmut.mutation.file_mutation import create_mutations, deep_replace

            module, mutations, _, _ = create_mutations(TARGET, source)
            out = []
            for mutation in mutations:
                owner = mutation.contained_by_top_level_function
                where = owner.name.value if owner is not None else "<module>"
                mutated = deep_replace(module, mutation.original_node, mutation.mutated_node)
                out.append((where, mutated.code))  # type: ignore[union-attr]
            return out
        finally:
            os.chdir(cwd)


def generate(source: str) -> list[Mutant]:
    mutants: list[Mutant] = []
    seen = {source}
    for where, code in _mutmut_mutants(source):
        if code in seen:
            continue
        seen.add(code)
        mutants.append(Mutant(len(mutants), "mutmut", where, "", _diff(source, code), code))
    for label, old, new in EXTRA:
        if source.count(old) != 1:
            raise SystemExit(f"extra mutant {label!r}: {old!r} occurs {source.count(old)} times")
        code = source.replace(old, new)
        if code in seen:
            continue
        seen.add(code)
        mutants.append(Mutant(len(mutants), "extra", "", label, _diff(source, code), code))
    return mutants


def _copy_repository(into: Path) -> None:
    for name in COPIED:
        shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))


def run_one(mutant: Mutant | None, source: str, args: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="gradcheck-mutant-") as tmp:
        copy = Path(tmp)
        _copy_repository(copy)
        (copy / TARGET).write_text(mutant.source if mutant else source)
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("PYTHONSTARTUP", None)
        command = [sys.executable, "-m", "harness.cli", "verify", "--profile", args.profile,
                   "--seed", str(args.seed), "--report-dir", str(copy / "reports")]  # fmt: skip
        if args.examples is not None:
            command += ["--examples", str(args.examples)]
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True,
                                  timeout=args.timeout, check=False)  # fmt: skip
            code: int | None = done.returncode
            printed = done.stdout + done.stderr
        except subprocess.TimeoutExpired as expired:
            code = None
            printed = str(expired.stdout or "") + str(expired.stderr or "")
        seconds = time.perf_counter() - start
    status = {0: "survived", 1: "killed", 2: "killed (load)", None: "timeout"}.get(code, "killed")
    tail = "\n".join(printed.strip().splitlines()[-6:])
    if mutant is None:
        return Outcome(-1, "original", "", "", "", status, code, seconds, tail)
    return Outcome(mutant.index, mutant.origin, mutant.where, mutant.label, mutant.diff, status,
                   code, seconds, tail)  # fmt: skip


def _reasons() -> dict[str, tuple[str, str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from survivors import REASONS

    return REASONS


def _key(diff: str) -> str:
    """A survivor's identity: its changed lines, without file headers (stable across renumbering)."""
    return "\n".join(line.rstrip() for line in diff.splitlines() if line[:3] not in ("---", "+++"))


def summarize(
    outcomes: list[Outcome], seconds: float, args: argparse.Namespace
) -> tuple[str, bool]:
    reasons = _reasons()
    total = len(outcomes)
    killed = sum(o.status.startswith("killed") for o in outcomes)
    survived = [o for o in outcomes if o.status == "survived"]
    timeouts = [o for o in outcomes if o.status == "timeout"]
    raw = killed / total if total else 1.0
    # The usual mutation score: equivalent mutants (documented in survivors.py) cannot be killed
    # by any test, so they leave the denominator.
    equivalent = sum(reasons.get(_key(o.diff), ("",))[0] == "equivalent" for o in survived)
    score = killed / (total - equivalent) if total - equivalent else 1.0
    unexplained = [o for o in survived if _key(o.diff) not in reasons]
    ok = score >= args.min_score and not unexplained
    lines = [
        f"# mutation testing of `{TARGET}`: {'PASS' if ok else 'FAIL'}",
        "",
        f"- oracle: `gradcheck-harness verify --profile {args.profile} --seed {args.seed}"
        + (f" --examples {args.examples}" if args.examples else "")
        + "`",
        f"- mutants: {total} ({sum(o.origin == 'mutmut' for o in outcomes)} from mutmut's "
        f"generator, {sum(o.origin == 'extra' for o in outcomes)} extra)",
        f"- killed: {killed} ({sum(o.status == 'killed (load)' for o in outcomes)} of them at load)",
        f"- survived: {len(survived)}; timeout: {len(timeouts)}",
        f"- score: {score:.1%} of {total - equivalent} non-equivalent mutants "
        f"(raw {raw:.1%} of all {total}; required {args.min_score:.0%})",
        f"- time: {seconds / 60:.1f} min with {args.jobs} job(s)",
        "",
        "## Survivors",
        "",
    ]
    if not survived:
        lines.append("none")
    for o in survived:
        kind, why = reasons.get(_key(o.diff), ("UNEXPLAINED", "no reason recorded in survivors.py"))
        lines += [f"### #{o.index} ({o.origin}{', ' + o.where if o.where else ''}"
                  f"{', ' + o.label if o.label else ''}) — {kind}", "", "```diff", o.diff, "```",
                  "", why, ""]  # fmt: skip
    for o in timeouts:
        lines += [f"### #{o.index} — timeout after {o.seconds:.0f} s", "", "```diff", o.diff,
                  "```", ""]  # fmt: skip
    return "\n".join(lines) + "\n", ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per mutant")
    parser.add_argument("--only", default=None, help="comma-separated mutant indices")
    parser.add_argument("--min-score", type=float, default=0.95)
    parser.add_argument("--out", default="reports/mutation")
    parser.add_argument("--list", action="store_true", help="print the mutants and exit")
    args = parser.parse_args(argv)

    source = (ROOT / TARGET).read_text()
    mutants = generate(source)
    if args.only:
        wanted = {int(i) for i in args.only.split(",")}
        mutants = [m for m in mutants if m.index in wanted]
    if args.list:
        for m in mutants:
            print(f"#{m.index} [{m.origin} {m.where or m.label}]\n{m.diff}\n")
        print(f"{len(mutants)} mutants")
        return 0

    start = time.perf_counter()
    baseline = run_one(None, source, args)
    if baseline.status != "survived":
        print(f"the unmutated {TARGET} does not pass the oracle (exit {baseline.exit}):\n"
              f"{baseline.tail}", file=sys.stderr)  # fmt: skip
        return 1
    print(f"baseline passes in {baseline.seconds:.0f} s; {len(mutants)} mutants, {args.jobs} jobs",
          flush=True)  # fmt: skip
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for outcome in pool.map(lambda m: run_one(m, source, args), mutants):
            outcomes.append(outcome)
            print(
                f"#{outcome.index:3d} {outcome.status:13s} {outcome.seconds:6.1f}s  "
                f"{outcome.diff.splitlines()[-1][:90] if outcome.diff else ''}",
                flush=True,
            )
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps(
            {
                "baseline_seconds": baseline.seconds,
                "seconds": seconds,
                "outcomes": [asdict(o) for o in outcomes],
            },
            indent=1,
        )
    )
    text, ok = summarize(outcomes, seconds, args)
    (out / "summary.md").write_text(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
