"""The propagation section measures real changes crossing real processes: every change it makes
must become visible on the second server and in the SDK (a miss would be reported, not hidden)."""

import pytest

from gatehouse.bench import propagation
from gatehouse.bench.scale import throwaway_database
from gatehouse.bench.suite import BenchOptions

# Benchmarks, two server processes each: out of the default run (scripts/test), in .ci/run.
pytestmark = pytest.mark.slow


def test_each_change_reaches_the_second_node_and_the_sdk():
    with throwaway_database("sqlite", None) as url:
        times = propagation.measure(url, rounds=2)
    assert set(times) == {"role", "stream", "sdk"}
    for key, samples in times.items():
        assert len(samples) == 2, key
        assert all(s is not None and s >= 0 for s in samples), (key, samples)


def test_the_section_reports_every_row_with_no_misses(monkeypatch):
    monkeypatch.setattr(propagation, "ROUNDS", {"quick": 2, "full": 2})
    (table,) = propagation.run(BenchOptions(quick=True))
    assert [row[1] for row in table.rows] == [label for _, label in propagation.ROWS]
    assert all(row[-1] == "0" for row in table.rows), table.rows
