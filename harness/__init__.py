"""gradcheck harness: proves a hand-written backpropagation computes the right gradients.

The public surface is re-exported here; everything else may change.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from harness._version import __version__ as __version__

if TYPE_CHECKING:
    from harness.auditing import AuditReport, CheckReport, Finding, audit, check
    from harness.errors import (
        ArrayDtypeError,
        ArrayShapeError,
        CandidateError,
        HarnessError,
        NonFiniteError,
        NothingCheckedError,
        ProblemError,
        SourceLimitError,
        SpecError,
        TargetRangeError,
        UnknownActivationError,
        UnknownLossError,
    )
    from harness.fast import FastResult, fast_check
    from harness.network import ACTIVATIONS, LOSSES, REDUCTIONS
    from harness.pytest_plugin import GradientMismatch, assert_backprop_correct
    from harness.spec import Loss, NetworkSpec, Problem
    from harness.tolerance import PRECISIONS, Tiers

#: Where each public name lives. Imported on first use (PEP 562), so ``import harness`` — and a
#: worker process importing `harness.worker` — does not pay for SymPy and Hypothesis.
_HOME = {
    **dict.fromkeys(("AuditReport", "CheckReport", "Finding", "audit", "check"), "auditing"),
    **dict.fromkeys(
        (
            "ArrayDtypeError",
            "ArrayShapeError",
            "CandidateError",
            "HarnessError",
            "NonFiniteError",
            "NothingCheckedError",
            "ProblemError",
            "SourceLimitError",
            "SpecError",
            "TargetRangeError",
            "UnknownActivationError",
            "UnknownLossError",
            "UsageError",
        ),
        "errors",
    ),
    **dict.fromkeys(("FastResult", "fast_check"), "fast"),
    **dict.fromkeys(("ACTIVATIONS", "LOSSES", "REDUCTIONS"), "network"),
    **dict.fromkeys(("GradientMismatch", "assert_backprop_correct"), "pytest_plugin"),
    **dict.fromkeys(("Loss", "NetworkSpec", "Problem"), "spec"),
    **dict.fromkeys(("PRECISIONS", "Tiers"), "tolerance"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    module = import_module(f"harness.{home}")
    for other, where in _HOME.items():  # bind every name of that module at once
        if where == home:
            globals()[other] = getattr(module, other)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])


__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "PRECISIONS",
    "REDUCTIONS",
    "ArrayDtypeError",
    "ArrayShapeError",
    "AuditReport",
    "CandidateError",
    "CheckReport",
    "FastResult",
    "Finding",
    "GradientMismatch",
    "HarnessError",
    "Loss",
    "NetworkSpec",
    "NonFiniteError",
    "NothingCheckedError",
    "Problem",
    "ProblemError",
    "SourceLimitError",
    "SpecError",
    "TargetRangeError",
    "Tiers",
    "UnknownActivationError",
    "UnknownLossError",
    "UsageError",
    "assert_backprop_correct",
    "audit",
    "check",
    "fast_check",
]
