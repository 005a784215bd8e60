"""One checked case: a problem, the candidate's records, the Taylor order, how to reproduce it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Final

from harness.compare import DEFAULT_RULES, Rules, TensorRecord
from harness.fast import FastResult
from harness.replay import PythonCall, python_call
from harness.spec import Problem
from harness.taylor import TaylorResult

__all__ = ["CaseResult", "cli_rules", "python_rules", "reproduce_command"]


def _words(front: str) -> list[str]:
    try:
        return shlex.split(front)
    except ValueError:  # an unbalanced quote: keep it as one word
        return [front]


def reproduce_command(
    problem: Problem,
    candidate: str | None,
    front: str | PythonCall = "verify",
    *,
    fast: bool = False,
    fast_seed: int | None = None,
    rules: Rules = DEFAULT_RULES,
) -> str:
    """The CLI line that re-runs exactly this case (with ``--fast --fast-seed S`` for a
    fast-mode case), shell-quoted (`shlex.join`): pasted into a shell it runs only itself.

    ``front`` is how the candidate is named: ``verify`` (``--candidate X``), an ``audit``
    command line up to and including its target, shell-quoted (``audit X --layout rows``), or
    a `PythonCall` for a candidate no command line rebuilds: the line is then the Python call
    ``check(...)`` (`harness.replay`).
    """
    if isinstance(front, PythonCall):
        extra = python_rules(rules)
        if fast:
            extra = ", mode='fast'" + ("" if fast_seed is None else f", fast_seed={fast_seed}")
        return python_call(front, problem, extra)
    spec = problem.spec
    words = ["gradcheck-harness", *_words(front)]
    if front == "verify" and candidate:
        words += ["--candidate", candidate]
    words += [
        "--sizes", ",".join(str(n) for n in spec.sizes),
        "--activations", ",".join(spec.activations),
        "--loss", spec.loss.name,
    ]  # fmt: skip
    if spec.loss.half:
        words.append("--half")
    if spec.loss.reduction != "mean":
        words += ["--reduction", spec.loss.reduction]
    if spec.l2:
        words += ["--l2", repr(spec.l2)]
    words += ["--batch", str(problem.batch)]
    if problem.seed is not None:
        words += ["--problem-seed", str(problem.seed)]
    if problem.weight_scale not in (None, 1.0):
        words += ["--weight-scale", repr(problem.weight_scale)]
    if problem.kink_margin not in (None, 1e-3):
        words += ["--kink-margin", repr(problem.kink_margin)]
    words += cli_rules(rules)
    if fast:
        words.append("--fast")
        if fast_seed is not None:
            words += ["--fast-seed", str(fast_seed)]
    return shlex.join(words)


def cli_rules(rules: Rules) -> list[str]:
    """The options that make the command judge by ``rules`` (none for the defaults)."""
    words = []
    if rules.precision != DEFAULT_RULES.precision:
        words += ["--precision", rules.precision]
    if rules.strict:
        words.append("--strict")
    if rules.tiers.tau != DEFAULT_RULES.tiers.tau:
        words += ["--tau", repr(rules.tiers.tau)]
    if rules.tiers.alpha != DEFAULT_RULES.tiers.alpha:
        words += ["--alpha", repr(rules.tiers.alpha)]
    return words


def python_rules(rules: Rules) -> str:
    """The keywords that make ``check(...)`` judge by ``rules`` (none for the defaults)."""
    text = ""
    if rules.precision != DEFAULT_RULES.precision:
        text += f", precision={rules.precision!r}"
    if rules.strict:
        text += ", strict=True"
    if rules.tiers != DEFAULT_RULES.tiers:
        text += f", tiers=Tiers(tau={rules.tiers.tau!r}, alpha={rules.tiers.alpha!r})"
    return text


#: Statuses of a tensor whose values are wrong.
_WRONG: Final = ("mismatch", "nonfinite")
#: What to look at when dJ/dZ of a layer is right but one of its gradients is not.
_FORMED: Final = {"W": " (A_prev, a transpose, the l2·W term)", "b": " (the sum over samples)"}


@dataclass(frozen=True)
class CaseResult:
    """The verdict on one problem."""

    problem: Problem
    records: tuple[TensorRecord, ...]
    taylor: TaylorResult | None
    candidate: str | None  # how the candidate was named on the command line, if it was
    front: str | PythonCall = "verify"  # the command that names it (see reproduce_command)
    mode: str = "full"  # "fast": one random direction first (harness.fast)
    fast: FastResult | None = None  # the fast verdict, when fast mode got that far
    fast_seed: int | None = None  # fast mode's direction seed, when no fast verdict holds it
    rules: Rules = DEFAULT_RULES  # precision, strictness and the imprecise band it was judged by

    @property
    def harness_fault(self) -> bool:
        return any(r.status == "source-disagreement" for r in self.records)

    @property
    def judged(self) -> bool:
        """The candidate was judged here: the case is not outside its declared support."""
        return not any(r.status == "unsupported" for r in self.records)

    @property
    def passed(self) -> bool:
        """Every record passes. The Taylor order is evidence shown beside the verdict, not part
        of it: on saturated nets float64 noise in J can bend the fitted order (see taylor.py)."""
        return all(r.passed for r in self.records)

    @property
    def failing(self) -> tuple[TensorRecord, ...]:
        return tuple(r for r in self.records if not r.passed)

    @property
    def warnings(self) -> tuple[TensorRecord, ...]:
        """Tensors with imprecise entries that pass (not strict): precision choices to look at."""
        return tuple(r for r in self.records if r.warning)

    @property
    def origin(self) -> str | None:
        """Where the error starts: the first wrong tensor in backprop order (layer L first, dW
        before db), the layers above it right. None when no tensor is wrong, or when a layer
        above the first wrong one is neither wrong nor right (undecidable, imprecise in strict
        mode, not compared)."""
        tensors = {(r.layer, r.param): r for r in self.records if r.layer is not None}
        top = self.problem.spec.depth
        for l in range(top, 0, -1):
            layer = [tensors.get((l, p)) for p in "Wb"]
            wrong = [p for p, r in zip("Wb", layer) if r is not None and r.status in _WRONG]
            if wrong:
                break
            if not all(r is not None and r.passed for r in layer):
                return None
        else:
            return None
        first = f"the first wrong tensor in backprop order is layer {l} d{wrong[0]}"
        output = " (the output layer)" if l == top else ""
        if len(wrong) == 1:  # dW or db only: dJ/dZ of this layer is right, one formula is not
            other = f"layer {l} d{'b' if wrong[0] == 'W' else 'W'}"
            right = f"{other} is right" if l == top else f"{other} and layer {l + 1} are right"
            how = _FORMED[wrong[0]]
            return f"{first}{output}; {right}: look at how d{wrong[0]} is formed from dJ/dZ{how}"
        if l == top:
            return f"{first}{output}: look at the loss derivative or the output layer's g'"
        return (
            f"{first}; layer {l + 1} is right: look at the propagation from layer {l + 1} into "
            f"layer {l}"
        )

    @property
    def fast_confirmed(self) -> bool | None:
        """Whether the full check confirms what a failed fast check localized: every located
        entry is wrong there too (its tensor's record a mismatch, that entry beyond its bound).
        None when no full check followed a fast failure."""
        if self.fast is None or self.fast.passed or self.fast.undecidable:
            return None
        by_tensor = {(r.layer, r.param): r for r in self.records}
        if not self.fast.located:
            return not self.passed
        for found in self.fast.located:
            record = by_tensor.get((found.layer, found.param))
            if record is None or record.status != "mismatch":
                return False
            flagged = record.ratio is None or found.index is None
            if not (flagged or float(record.ratio[found.index]) > 1.0):  # type: ignore[index]
                return False
        return True

    @property
    def reproduce(self) -> str:
        seed = self.fast.seed if self.fast is not None else self.fast_seed
        return reproduce_command(self.problem, self.candidate, self.front,
                                 fast=self.mode == "fast", fast_seed=seed,
                                 rules=self.rules)  # fmt: skip

    def as_dict(self, with_ratio: bool = False) -> dict[str, Any]:
        return {
            "spec": repr(self.problem.spec),
            "problem": repr(self.problem),
            "sizes": list(self.problem.spec.sizes),
            "activations": list(self.problem.spec.activations),
            "loss": self.problem.spec.loss.name,
            "half": self.problem.spec.loss.half,
            "reduction": self.problem.spec.loss.reduction,
            "l2": self.problem.spec.l2,
            "batch": self.problem.batch,
            "problem_seed": self.problem.seed,
            "weight_scale": self.problem.weight_scale,
            "passed": self.passed,
            "harness_fault": self.harness_fault,
            "precision": self.rules.precision,
            "strict": self.rules.strict,
            "warnings": len(self.warnings),
            "records": [r.as_dict(with_ratio=with_ratio) for r in self.records],
            "taylor": None if self.taylor is None else self.taylor.as_dict(),
            "reproduce": self.reproduce,
            "mode": self.mode,
            "fast": None if self.fast is None else self.fast.as_dict(with_time=False),
            "fast_confirmed": self.fast_confirmed,
            "origin": self.origin,
        }
