"""torch and jax in the tests: present, or a one-line skip, or a failure under CI=true.

The adapter tests (and the torch example) audit torch.autograd and jax.grad through the
adapters. `nox -s tests` does not install either on a laptop, so there they skip with a reason
that names the session that runs them; CI installs both, so under CI=true a missing one fails
(a skip there would hide a broken adapter), as it does in `nox -s adapters`, which installs them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def required() -> bool:
    """True where torch and jax are installed on purpose: CI, and `nox -s adapters`."""
    return os.environ.get("CI") == "true" or os.environ.get("GRADCHECK_FRAMEWORKS") == "required"


def need(module: str) -> ModuleType:
    """The module (``"torch"``, ``"jax"``), or a skip; where it is required, a failure."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if required():
            pytest.fail(f"{module} is not installed, but CI=true: nox installs it for CI")
        pytest.skip(f"{module} not installed: nox -s adapters runs these")


def have(module: str) -> bool:
    """Whether ``module`` imports; where it is required and missing, a failure."""
    try:
        importlib.import_module(module)
    except ImportError:
        if required():
            pytest.fail(f"{module} is not installed, but CI=true: nox installs it for CI")
        return False
    return True
