"""Typed errors. Every error the harness raises on bad input derives from `HarnessError`.

Messages name the offending value, what was expected, and where possible how to fix it,
so that a user never has to read a traceback from deep inside numpy or SymPy.
"""

from __future__ import annotations

__all__ = [
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
]


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class SpecError(HarnessError, ValueError):
    """A `NetworkSpec` that does not describe a valid network."""


class UnknownActivationError(SpecError):
    """An activation name the harness does not know."""


class UnknownLossError(SpecError):
    """A loss name the harness does not know."""


class ProblemError(HarnessError, ValueError):
    """Parameters or data that do not fit their `NetworkSpec`."""


class ArrayShapeError(ProblemError):
    """An array whose shape does not match the spec."""


class ArrayDtypeError(ProblemError, TypeError):
    """An array that is not a float64 `numpy.ndarray`."""


class NonFiniteError(ProblemError):
    """NaN or infinity in parameters, inputs or targets."""


class TargetRangeError(ProblemError):
    """Targets outside the range the loss is defined on (bce needs 0 <= y <= 1)."""


class SourceLimitError(HarnessError, ValueError):
    """A gradient source asked to work beyond what it supports (e.g. 50 digits on a large net)."""


class CandidateError(HarnessError, ValueError):
    """A candidate that cannot be named, shipped to a worker process or loaded there."""


class NothingCheckedError(HarnessError):
    """A campaign that judged no case: never a pass (the message says why)."""


class UsageError(CandidateError):
    """A candidate plugged in the wrong way (a dict returned, a fixed depth, an undeclared loss
    convention: `harness.usage`); the message says how to plug it in."""
