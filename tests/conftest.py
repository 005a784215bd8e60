"""The `slow` mark, applied from tests/slowlist.py (measured durations), so that `nox -s tests`
(``pytest -m "not slow" -n auto``) runs in a few minutes and `nox -s tests_all` runs everything."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from slowlist import SLOW_CASES, SLOW_TESTS

TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect anything
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    named = set()
    for item in items:
        function = item.nodeid.split("[")[0]
        if item.nodeid in SLOW_CASES or function in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
            named.add(item.nodeid if item.nodeid in SLOW_CASES else function)
    whole_suite = all(Path(arg).resolve() == TESTS for arg in config.args)
    stale = (SLOW_CASES | SLOW_TESTS) - named
    if whole_suite and stale:
        # A warning, not an error: a renamed test then just runs in `nox -s tests` too.
        warnings.warn(
            pytest.PytestWarning(
                f"tests/slowlist.py names tests that do not exist (renamed? re-parametrized?): "
                f"{sorted(stale)}"
            ),
            stacklevel=1,
        )
