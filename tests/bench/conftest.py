"""The HTTP benches drive `wrk`: a test marked `needs_wrk` skips without it, except in CI, where
it fails (scripts/test installs Debian's wrk with the slow tests when it is missing)."""

from __future__ import annotations

import os

import pytest

from gatehouse.bench import load


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_wrk: the test runs wrk (skipped without it, not in CI)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_wrk") is None or load.find_wrk() is not None:
        return
    reason = "wrk is not installed (apt-get install wrk; scripts/test does with the slow tests)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the HTTP benches: {reason}")
    pytest.skip(reason)
