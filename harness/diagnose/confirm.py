"""Keep a diagnosis only if it is found again at a non-degenerate size.

A campaign shrinks a failure to the smallest failing architecture, often a 1×1 net with a batch
of one or two. There many hypotheses coincide: a transpose of a 1×1 W is W, 1/m is 1, layer 1's
gradient can equal layer 3's, a relu' that vanishes looks like a missing layer. `confirm` runs
the candidate once more on `larger_problem` — same activations, loss, l2, seed and weight scale,
every hidden width and the batch at least `WIDTH`, n_0 and n_L too where the candidate's
declared support allows — and keeps a name only where `diagnose` names the same hypothesis for
that tensor there: the same pattern and, for a factor, the same factor (a common name, or the
same least-squares value). A call that fails, a tensor right at the larger size, or another
pattern there: no name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

import numpy as np

from harness.compare import DEFAULT_RULES, Rules, compare, evaluate_sources
from harness.diagnose import MEANINGFUL, Diagnosis, diagnose
from harness.diagnose.factors import Factor, named_factors
from harness.spec import NetworkSpec, Problem
from harness.support import Support
from harness.tolerance import precision_of

__all__ = ["WIDTH", "confirm", "larger_problem", "supported"]

#: The smallest hidden width and batch of the confirming problem.
WIDTH: Final = 3

Key = tuple[int, str]
#: The candidate's output on a problem (the contract's list of (dW, db)), None if the call failed.
Run = Callable[[Problem], Any]


def supported(support: Any, original: NetworkSpec) -> Callable[[NetworkSpec], bool]:
    """Which larger specs a candidate with this declared ``support`` (a `harness.Support`, or
    the error its declaration raised) may be run on: those inside it; where ``original`` lies
    outside it too (a problem of the caller's choosing), or there is no valid declaration, only
    those with the same n_0 and n_L (the hidden widths alone change)."""

    def allows(spec: NetworkSpec) -> bool:
        same_ends = (spec.sizes[0], spec.sizes[-1]) == (original.sizes[0], original.sizes[-1])
        if not isinstance(support, Support):
            return same_ends
        return support.covers(spec) or (same_ends and not support.covers(original))

    return allows


def larger_problem(
    problem: Problem, allows: Callable[[NetworkSpec], bool] = lambda spec: True
) -> Problem | None:
    """``problem`` at a size where the hypotheses do not coincide: every hidden width and the
    batch ≥ `WIDTH` (a batch other than n_L), n_0 and n_L ≥ `WIDTH` too if ``allows`` the spec
    (the candidate's declared support), else kept. ``problem`` itself when it is that size
    already; None when ``allows`` no larger spec."""
    spec, m = problem.spec, problem.batch
    n_0, *hidden, n_L = spec.sizes
    widened = [max(n, WIDTH) for n in hidden]
    for ends in dict.fromkeys([(max(n_0, WIDTH), max(n_L, WIDTH)), (n_0, n_L)]):
        sizes = (ends[0], *widened, ends[1])
        larger = NetworkSpec(sizes, spec.activations, spec.loss, l2=spec.l2)
        if allows(larger):
            break
    else:
        return None
    if sizes == spec.sizes and m >= WIDTH:
        return problem
    batch = max(m, WIDTH)
    while batch == sizes[-1]:  # m = n_L: "scaled by m" and "scaled by n_L" would coincide
        batch += 1
    return Problem.random(
        larger,
        batch,
        problem.seed if problem.seed is not None else 0,
        problem.weight_scale if problem.weight_scale is not None else 1.0,
        kink_margin=problem.kink_margin if problem.kink_margin is not None else 1e-3,
    )


def confirm(
    problem: Problem,
    found: Mapping[Key, Diagnosis],
    run: Run,
    *,
    rules: Rules = DEFAULT_RULES,
    allows: Callable[[NetworkSpec], bool] = lambda spec: True,
) -> dict[Key, Diagnosis]:
    """The diagnoses of ``found`` (on ``problem``) that `diagnose` gives again on
    `larger_problem`, where ``run`` runs the candidate (its inputs rounded to ``rules``'
    precision, as it is judged); ``found`` itself when ``problem`` is large enough already."""
    if not found:
        return {}
    larger = larger_problem(problem, allows)
    if larger is problem:
        return dict(found)
    if larger is None:
        return {}
    dtype = precision_of(rules.precision).dtype
    if dtype is not np.float64:
        larger = larger.rounded(dtype)
    output = run(larger)
    if output is None:
        return {}
    sources = evaluate_sources(larger, precision=rules.precision)
    records = compare(larger, output, sources, rules)
    if any(r.status in ("count", "shape", "dtype", "nonfinite") for r in records):
        return {}  # values diagnose cannot read
    mismatched = {(r.layer, r.param) for r in records if r.status == "mismatch"}
    wrong = [key for key in found if key in mismatched]
    again = diagnose(larger, output, sources, wrong)
    kept = {}
    for key, diagnosis in found.items():
        there = again.get(key)
        if there is not None and _same(diagnosis, there):
            kept[key] = _narrowed(problem, larger, diagnosis, there)
    return kept


def _same(here: Diagnosis, there: Diagnosis) -> bool:
    """The same hypothesis: the same pattern and, for a factor, the same factor."""
    if here.pattern != there.pattern:
        return False
    if here.pattern == "scaled":
        if here.text.startswith("loss term") != there.text.startswith("loss term"):
            return False  # the whole dW scaled, or its loss term only
        if here.names or there.names:
            return bool(set(here.names) & set(there.names))
    if here.pattern in ("scaled", "l2-mismatch"):
        assert here.factor is not None and there.factor is not None
        return math.isclose(here.factor, there.factor, rel_tol=MEANINGFUL)
    return True


def _narrowed(problem: Problem, larger: Problem, here: Diagnosis, there: Diagnosis) -> Diagnosis:
    """A named factor under only the names it has at both sizes ("scaled by 1/m = 1/(2·n_L) =
    0.25: ..." on the small net, "scaled by 1/m = 0.25" on the larger: "scaled by 1/m = 0.25");
    the convention it points at is the larger problem's, where fewer names coincide."""
    common = tuple(n for n in here.names if n in there.names)
    if common == here.names:
        return here
    factor = next((f for f in named_factors(problem) if f.value == here.factor), None)
    big = next((f for f in named_factors(larger) if f.value == there.factor), None)
    if factor is None or big is None:
        return here
    said = factor.hint and here.text.endswith(factor.hint) and set(there.names) <= set(common)
    hint = big.hint if said else ""
    shown = Factor(factor.value, list(common), "").text()
    text = f"loss term {shown} (l2·W right)" if here.text.startswith("loss term") else shown
    return replace(here, text=text + hint, names=common)
