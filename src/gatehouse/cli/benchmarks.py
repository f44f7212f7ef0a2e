"""`gatehouse bench`: the benchmark sections (gatehouse.bench), printed as tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gatehouse.cli.shell import (
    Command,
    app,
    fail,
)


@app.command(cls=Command)
def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller samples: each section in seconds.")
    ] = False,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="SECTIONS",
            help=(
                "Comma-separated sections to run (default all): "
                "engine,http,scale,propagation,dashboard,peers."
            ),
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="A PostgreSQL server URL sections may create throwaway databases on; "
            "default: SQLite only.",
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", metavar="FILE", help="Also write the tables as markdown."),
    ] = None,
) -> None:
    """Benchmark Gatehouse: the engine against its peers, and the server (figures as ratios)."""

    from gatehouse.bench.report import print_tables, to_markdown, wide_console
    from gatehouse.bench.suite import SECTIONS, BenchOptions, machine_facts, run_sections

    names = [n.strip() for n in only.split(",") if n.strip()] if only else list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        fail(
            f"unknown section(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(SECTIONS)}"
        )
    console = wide_console()
    header = machine_facts()
    console.print(header, markup=False, highlight=False)
    tables = run_sections(
        names,
        BenchOptions(quick=quick, database_url=database_url),
        each=lambda section: print_tables(section, console),
    )
    if markdown is not None:
        markdown.write_text(to_markdown(tables, header=header), encoding="utf-8")
        typer.echo(f"wrote {markdown}")
