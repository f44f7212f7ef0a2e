"""The bench sections and the runner behind `gatehouse bench`.

Each section is a module exposing `run(options: BenchOptions) -> list[Table]`. Modules are
imported only when their section runs, so one section's optional peers (pycasbin, cedarpy, a
PostgreSQL driver) never stop another from running, and a section not written yet shows as a
skipped row instead of breaking the command.
"""

from __future__ import annotations

import importlib
import os
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata

from gatehouse.bench.report import SectionSkipped, Table

# In the order `gatehouse bench` runs them.
SECTIONS: dict[str, str] = {
    "engine": "gatehouse.bench.engine",
    "http": "gatehouse.bench.http",
    "scale": "gatehouse.bench.scale",
    "propagation": "gatehouse.bench.propagation",
    "dashboard": "gatehouse.bench.dashboard",
    "peers": "gatehouse.bench.pdp",
}

# Distributions named in the header line, when installed.
LIBRARIES = ("gatehouse", "stytch", "pycasbin", "cedarpy", "oso")


@dataclass
class BenchOptions:
    quick: bool
    # A PostgreSQL server URL sections may create throwaway databases on; None: SQLite only.
    database_url: str | None = None


def skipped(name: str, reason: str) -> Table:
    return Table(title=name, columns=["section", "result"], rows=[[name, f"skipped: {reason}"]])


def run_section(name: str, options: BenchOptions) -> list[Table]:
    """One section's tables, or one row saying why it was skipped; unknown names raise KeyError."""
    module_path = SECTIONS[name]
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as error:
        if error.name != module_path:
            raise  # the section exists but something it imports is missing: a real error
        return [skipped(name, f"section not available ({module_path} does not exist)")]
    try:
        tables: list[Table] = module.run(options)
    except SectionSkipped as skip:
        return [skipped(name, skip.reason)]
    return tables


def run_sections(
    names: Iterable[str],
    options: BenchOptions,
    each: Callable[[list[Table]], None] | None = None,
) -> list[Table]:
    """Run the named sections in order; `each` sees every section's tables as soon as it ends
    (a full run takes minutes)."""
    tables: list[Table] = []
    for name in names:
        section = run_section(name, options)
        if each is not None:
            each(section)
        tables.extend(section)
    return tables


def machine_facts() -> str:
    """One line saying where and with what the figures were measured."""
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return (
        f"{platform.python_implementation()} {platform.python_version()} on {platform.platform()}, "
        f"{_cpus()} CPUs, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; " + ", ".join(versions)
    )


def _cpus() -> int:
    """CPUs this process may run on (its affinity mask, which may be fewer than the host has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
