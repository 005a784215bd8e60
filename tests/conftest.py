"""The `slow` mark, applied from tests/slowlist.py (measured durations), so that `nox -s tests`
(``pytest -m "not slow" -n auto``) runs in a few minutes and `nox -s tests_all` runs everything."""

from __future__ import annotations

import pytest
from slowlist import SLOW_CASES, SLOW_TESTS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid in SLOW_CASES or item.nodeid.split("[")[0] in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
