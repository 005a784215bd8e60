"""How small a single wrong entry the full and fast checks catch, on archs B, D and E (issue 12, 6).

The candidate is the reference's own gradient (`reference.backward`) on the bench's problem of
each arch (`tests.bench.problems`). For a reproducible sample of entries, spread over every
tensor, exactly one entry is made wrong, in two readings of "off by ε":

- **of itself**: the entry becomes ``g·(1 + ε)``;
- **of max**: the entry becomes ``g + ε·max|g|``, max over the entry's own tensor;

for ε = 1e-4, 1e-5, 1e-6, 1e-7, 1e-8. It counts as caught

- in **full** mode when ``harness.compare.compare(problem, output, sources)`` gives that tensor the
  status ``"mismatch"``. Any other status is not caught (``"imprecise"`` — beyond the rounding
  model but within the precision band — passes as a warning, so it is not caught either); every
  status seen, known or not, is tallied in the JSON. ``evaluate_sources`` runs once per arch, as
  the product runs it, and is reused for every injection: an injection changes only the output.
- in **fast** mode when ``harness.fast_check`` fails and one of its located entries is that entry.
  Each sampled entry gets its own direction seed, derived from ``--seed`` and the entry.

The sample is stratified: each tensor gets a share of ``--sample`` (``--fast-sample`` in fast mode)
in proportion to its size, at least `MIN_PER_TENSOR` entries (all of a smaller tensor). The fast
sample is a prefix of each tensor's full sample. A percentage is the estimated share of *all* the
arch's entries caught: each tensor's caught fraction weighted by its size (exact when every entry is
sampled); the JSON also has the raw counts, tensor by tensor, and examples of missed entries. An
entry that the injection leaves unchanged (an entry of 0, or ε below half an ulp of it) is left out
of that cell and counted as ``unchanged``.

Not collected by pytest (tests/test_bench_smoke.py runs it on a tiny sample)::

    python -m tests.bench.sensitivity [--archs B,D,E] [--sample N] [--fast-sample N] [--seed S]
                                      [--modes full,fast] [--json PATH]

Prints a Markdown table (rows arch × mode, columns ε × {of itself, of max}) with the git commit and
the time taken; progress goes to stderr. The defaults take about 5 minutes on 2 cores with
OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python tests/bench/sensitivity.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

import harness
import reference
from harness import Problem, fast_check
from harness.compare import SourceValues, compare, evaluate_sources
from harness.network import Array
from harness.threads import one_blas_thread
from tests.bench.problems import ARCHS, problem_of

ROOT = Path(__file__).resolve().parents[2]

EPSILONS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
#: How an entry is made wrong: "self" -> g·(1 + ε), "max" -> g + ε·max|g| of its tensor.
KINDS = {"self": "of itself", "max": "of max"}
MODES = ("full", "fast")
#: The one full-mode status that counts as caught.
CAUGHT = "mismatch"
MIN_PER_TENSOR = 2
DEFAULT_ARCHS = ("B", "D", "E")
DEFAULT_SAMPLE = 1000  # entries per arch, full mode
DEFAULT_FAST_SAMPLE = 400  # entries per arch, fast mode (never more than --sample)
MISSED_KEPT = 20  # missed entries the JSON keeps per cell

Grads = list[tuple[Array, Array]]
_START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f} s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Site:
    """One entry of the gradient: layer l (0-based), tensor k (0: dW, 1: db), flat index."""

    l: int
    k: int
    flat: int

    @property
    def tensor(self) -> str:
        return f"layer {self.l + 1} d{'Wb'[self.k]}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.sensitivity", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--archs", default=",".join(DEFAULT_ARCHS), help="subset of A-E")
    parser.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        help=f"entries per arch in full mode (default {DEFAULT_SAMPLE})",
    )
    parser.add_argument(
        "--fast-sample",
        type=int,
        default=None,
        help=f"entries per arch in fast mode (default min(--sample, {DEFAULT_FAST_SAMPLE}))",
    )
    parser.add_argument("--seed", type=int, default=1, help="which entries; directions of v")
    parser.add_argument("--modes", default=",".join(MODES), help="full,fast or one of them")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    archs = [a.strip().upper() for a in args.archs.split(",") if a.strip()]
    if not archs or any(a not in ARCHS for a in archs):
        parser.error(f"--archs {args.archs!r}: choose from {','.join(ARCHS)}")
    modes = [m.strip().lower() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes {args.modes!r}: choose from {','.join(MODES)}")
    if args.fast_sample is None:
        args.fast_sample = min(args.sample, DEFAULT_FAST_SAMPLE)
    if args.sample < 1 or args.fast_sample < 1 or args.seed < 0:
        parser.error("--sample and --fast-sample must be >= 1, --seed >= 0")
    args.archs = list(dict.fromkeys(archs))
    args.modes = [m for m in MODES if m in modes]
    return args


def commit_info() -> dict[str, Any]:
    """The commit measured, and the tracked files changed on top of it (measured too)."""

    def git(*words: str) -> str | None:
        done = subprocess.run(["git", "-C", str(ROOT), *words], capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else None

    subject = (git("log", "-1", "--format=%s") or "").strip()
    changed = git("status", "--porcelain", "--untracked-files=no") or ""
    return {
        "commit": (git("rev-parse", "HEAD") or "unknown").strip(),
        "subject": subject if len(subject) <= 80 else subject[:79] + "…",
        "uncommitted": [line[3:] for line in changed.splitlines() if line.strip()],
    }


def quotas(sizes: Sequence[int], n: int) -> list[int]:
    """Entries to sample per tensor: proportional to its size, at least `MIN_PER_TENSOR`."""
    total = sum(sizes)
    return [min(s, max(MIN_PER_TENSOR, round(n * s / total))) for s in sizes]


def draw(grads: Grads, n: int, seed: int) -> list[list[Site]]:
    """Per tensor, the first quota of a seeded permutation of its entries (so a smaller n gives
    a subset of a larger one's sample)."""
    rng = np.random.default_rng(seed)
    tensors = [(l, k, grads[l][k].size) for l in range(len(grads)) for k in (0, 1)]
    order = [rng.permutation(size) for _, _, size in tensors]
    wanted = quotas([size for _, _, size in tensors], n)
    return [
        [Site(l, k, int(flat)) for flat in perm[:q]]
        for (l, k, _), perm, q in zip(tensors, order, wanted)
    ]


def injected(grads: Grads, site: Site, eps: float, kind: str) -> Grads | None:
    """``grads`` with the one entry at ``site`` made wrong, or None if it would not change."""
    g = grads[site.l][site.k]
    value = float(g.flat[site.flat])
    wrong = value * (1.0 + eps) if kind == "self" else value + eps * float(np.abs(g).max())
    if wrong == value:
        return None
    bad = g.copy()
    bad.flat[site.flat] = wrong
    pairs = list(grads)  # the other tensors are shared, never written
    pair = list(pairs[site.l])
    pair[site.k] = bad
    pairs[site.l] = (pair[0], pair[1])
    return pairs


def full_outcome(problem: Problem, bad: Grads, sources: SourceValues, site: Site) -> str:
    """The status compare gives the injected tensor; ``+elsewhere`` if another tensor fails."""
    records = compare(problem, bad, sources)
    where = (site.l + 1, "Wb"[site.k])
    mine = [r.status for r in records if (r.layer, r.param) == where]
    status = mine[0] if mine else f"no record ({records[0].status})"
    if any(r.status != "ok" for r in records if (r.layer, r.param) != where):
        status += "+elsewhere"
    return str(status)


def fast_outcome(problem: Problem, bad: Grads, site: Site, seed: int) -> str:
    """``caught`` when fast_check fails naming exactly this entry, else what it said."""
    result = fast_check(bad, problem, seed=seed)
    if result.passed:
        return "passed"
    if result.undecidable:
        return "undecidable"
    index = np.unravel_index(site.flat, bad[site.l][site.k].shape)
    want = (site.l + 1, "Wb"[site.k], tuple(int(i) for i in index))
    if any((x.layer, x.param, x.index) == want for x in result.located):
        return "caught"
    if any((x.layer, x.param) == want[:2] and x.index is None for x in result.located):
        return "failed, piece located"  # neither half failed alone: the piece, not the entry
    return "failed, named elsewhere" if result.located else "failed, not located"


def direction_seed(seed: int, site: Site) -> int:
    """fast_check's seed of v for one entry: the same for every ε and kind at that entry."""
    return int(np.random.SeedSequence([seed, site.l, site.k, site.flat]).generate_state(1)[0])


def measure(
    problem: Problem,
    grads: Grads,
    sample: list[list[Site]],
    mode: str,
    sources: SourceValues | None,
    seed: int,
) -> dict[str, Any]:
    """One row: every cell (ε, kind) over the sample."""
    sizes = [grads[l][k].size for l in range(len(grads)) for k in (0, 1)]
    cells: dict[str, Any] = {}
    for eps in EPSILONS:
        for kind in KINDS:
            outcomes: Counter[str] = Counter()
            per_tensor: dict[str, list[int]] = {}
            missed: list[dict[str, Any]] = []
            weighted = weight = 0.0
            for sites, size in zip(sample, sizes):
                caught = tried = 0
                for site in sites:
                    bad = injected(grads, site, eps, kind)
                    if bad is None:
                        outcomes["unchanged"] += 1
                        continue
                    if mode == "full":
                        assert sources is not None
                        outcome = full_outcome(problem, bad, sources, site)
                        hit = outcome == CAUGHT
                    else:
                        outcome = fast_outcome(problem, bad, site, direction_seed(seed, site))
                        hit = outcome == "caught"
                    outcomes[outcome] += 1
                    tried += 1
                    caught += hit
                    if not hit and len(missed) < MISSED_KEPT:
                        g = grads[site.l][site.k]
                        missed.append({
                            "tensor": site.tensor,
                            "index": [int(i) for i in np.unravel_index(site.flat, g.shape)],
                            "g": float(g.flat[site.flat]),
                            "g_over_max": float(abs(g.flat[site.flat]) / np.abs(g).max()),
                            "outcome": outcome,
                        })  # fmt: skip
                if sites:
                    per_tensor[sites[0].tensor] = [caught, tried]
                if tried:
                    weighted += size * caught / tried
                    weight += size
            caught_all = sum(c for c, _ in per_tensor.values())
            tried_all = sum(t for _, t in per_tensor.values())
            share: float | None = None  # nothing was made wrong
            if tried_all:  # exact at the ends: all caught never reads as 99.9 %
                share = (
                    1.0 if caught_all == tried_all else 0.0 if not caught_all else weighted / weight
                )
            cells[f"{eps:.0e}/{kind}"] = {
                "eps": eps,
                "kind": kind,
                "share": share,
                "caught": caught_all,
                "tried": tried_all,
                "unchanged": outcomes["unchanged"],
                "outcomes": dict(outcomes),
                "per_tensor": per_tensor,
                "missed": missed,
            }
    return cells


def run_arch(arch: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    problem = problem_of(arch)
    spec = problem.spec
    loss = spec.loss  # the bench's archs: tanh hidden layers, sigmoid output, mse, no l2
    output = reference.backward(
        problem.params, problem.X, problem.Y, spec.activations, loss.name,
        half=loss.half, reduction=loss.reduction, l2=spec.l2,
    )  # fmt: skip
    grads: Grads = [(np.asarray(dW), np.asarray(db)) for dW, db in output]
    sizes, m = ARCHS[arch]
    rows = []
    for mode in args.modes:
        n = args.sample if mode == "full" else args.fast_sample
        sample = draw(grads, n, args.seed)
        sampled = sum(len(s) for s in sample)
        start = time.monotonic()
        sources = None
        baseline: list[str]
        with one_blas_thread():  # as the product's verdict runs (harness.campaign)
            if mode == "full":
                log(f"{arch} {sizes} m={m}: sources ...")
                sources = evaluate_sources(problem)
                baseline = [r.status for r in compare(problem, grads, sources)]
            else:
                result = fast_check(grads, problem, seed=args.seed)
                baseline = ["passed" if result.passed else "FAILED"]
            prepared = time.monotonic() - start
            log(f"{arch} {mode}: {sampled} entries x {len(EPSILONS) * len(KINDS)} injections ...")
            cells = measure(problem, grads, sample, mode, sources, args.seed)
        seconds = time.monotonic() - start
        log(f"{arch} {mode}: done in {seconds:.1f} s")
        rows.append({
            "arch": arch, "mode": mode, "sizes": list(sizes), "m": m,
            "params": spec.n_params, "sampled": sampled, "seconds": seconds,
            "prepare_seconds": prepared, "reference_statuses": baseline, "cells": cells,
        })  # fmt: skip
    return rows


def percent(share: float | None) -> str:
    """100 % and 0 % only when exact, so 99.96 % never reads as all."""
    if share is None:
        return "n/a"
    if share >= 1.0:
        return "100 %"
    if share <= 0.0:
        return "0 %"
    return f"{min(max(100.0 * share, 0.1), 99.9):.1f} %"


def markdown(data: dict[str, Any]) -> str:
    info = data["git"]
    changed = info["uncommitted"]
    lines = [
        "# Single-entry sensitivity (tests/bench/sensitivity.py)",
        "",
        f"- commit `{info['commit']}` ({info['subject']})"
        + (f"; uncommitted changes measured too: {', '.join(changed)}" if changed else ""),
        f"- harness imported from `{data['harness']}`",
        f"- command: `{data['command']}`",
        f"- sample: seed {data['settings']['seed']}; entries per arch: full "
        f"{data['settings']['sample']}, fast {data['settings']['fast_sample']} (stratified by "
        f"tensor; a percentage is the share of all the arch's entries, tensors weighted by size)",
        "- caught: full = that tensor's status is `mismatch` (`imprecise` is not caught); "
        "fast = `fast_check` fails and locates that entry",
        "",
    ]
    head = ["arch", "mode", "sampled"] + [
        f"{eps:.0e} {label}" for eps in EPSILONS for label in KINDS.values()
    ]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in data["rows"]:
        sizes = ",".join(map(str, row["sizes"]))
        cells = []
        for eps in EPSILONS:
            for kind in KINDS:
                cell = row["cells"][f"{eps:.0e}/{kind}"]
                text = percent(cell["share"])
                if cell["unchanged"]:
                    text += f" ({cell['unchanged']} unchanged)"
                cells.append(text)
        first = [f"{row['arch']} ({sizes}) m={row['m']}", row["mode"], str(row["sampled"])]
        lines.append("| " + " | ".join(first + cells) + " |")
    lines += [""]
    for row in data["rows"]:
        seen: Counter[str] = Counter()
        for cell in row["cells"].values():
            seen.update(cell["outcomes"])
        reference_ok = all(s in ("ok", "passed") for s in row["reference_statuses"])
        lines.append(
            f"- {row['arch']} {row['mode']}: {row['seconds']:.1f} s "
            f"({'sources' if row['mode'] == 'full' else 'reference check'} "
            f"{row['prepare_seconds']:.1f} s); the unmodified reference "
            f"{'passes' if reference_ok else 'FAILS: ' + ', '.join(row['reference_statuses'])}; "
            f"outcomes: {', '.join(f'{k} {v}' for k, v in sorted(seen.items()))}"
        )
    lines += ["", f"Total time {data['total_s']:.1f} s."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    rows = []
    for arch in args.archs:
        rows += run_arch(arch, args)
    shown = list(sys.argv[1:] if argv is None else argv)
    data: dict[str, Any] = {
        "git": commit_info(),
        "harness": str(Path(harness.__file__).resolve().parent),
        "command": " ".join(["python -m tests.bench.sensitivity", *shown]),
        "settings": {
            "archs": args.archs,
            "modes": args.modes,
            "sample": args.sample,
            "fast_sample": args.fast_sample,
            "seed": args.seed,
            "epsilons": list(EPSILONS),
            "kinds": KINDS,
            "min_per_tensor": MIN_PER_TENSOR,
        },
        "rows": rows,
        "total_s": time.monotonic() - _START,
    }
    print(markdown(data), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")
    return data


if __name__ == "__main__":
    main()
