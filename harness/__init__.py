"""gradcheck harness: proves a hand-written backpropagation computes the right gradients.

The public surface is re-exported here; everything else may change.
"""

from harness._version import __version__ as __version__
from harness.audit import AuditReport, CheckReport, Finding, audit, check
from harness.errors import (
    ArrayDtypeError,
    ArrayShapeError,
    HarnessError,
    NonFiniteError,
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

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "REDUCTIONS",
    "ArrayDtypeError",
    "ArrayShapeError",
    "AuditReport",
    "CheckReport",
    "FastResult",
    "Finding",
    "GradientMismatch",
    "HarnessError",
    "Loss",
    "NetworkSpec",
    "NonFiniteError",
    "Problem",
    "ProblemError",
    "SourceLimitError",
    "SpecError",
    "TargetRangeError",
    "UnknownActivationError",
    "UnknownLossError",
    "assert_backprop_correct",
    "audit",
    "check",
    "fast_check",
]
