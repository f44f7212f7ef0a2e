"""The result model every bench section returns: titled tables of already-formatted cells.

Sections format their own numbers (with `rate` and `ratio`) so a table prints the same in the
terminal and in the markdown a release note or an issue comment quotes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


class SectionSkipped(Exception):
    """Raised by a section's `run` when it cannot run here (no server, no package, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def rate(n: float) -> str:
    """A count or a per-second rate, whole, with thousands separators: `4,788,321`."""
    return f"{n:,.0f}"


def ratio(x: float, baseline: float) -> str:
    """`x` as a multiple of `baseline`: `0.905×` (figures are compared, never read absolutely).
    Below 0.01 two significant digits are kept (`0.000030×`), so slow peers do not all read 0."""
    if baseline == 0:
        return "—"
    value = x / baseline
    if value == 0 or abs(value) >= 0.01:
        return f"{value:,.3f}×"
    return f"{value:.{1 - math.floor(math.log10(abs(value)))}f}×"


def wide_console() -> Console:
    """The terminal, or, piped to a file or a log, 200 columns: tables never wrap there."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def print_tables(tables: Sequence[Table], console: Console | None = None) -> None:
    """Cells are plain text, never rich markup: `pip install -e .[bench]` must print as written."""
    console = console or wide_console()
    for table in tables:
        shown = RichTable(title=Text(table.title), title_justify="left")
        for i, column in enumerate(table.columns):
            shown.add_column(Text(column), justify="left" if i == 0 else "right")
        for row in table.rows:
            shown.add_row(*(Text(cell) for cell in row))
        console.print(shown)
        for note in table.notes:
            console.print(f"  {note}", style="dim", markup=False, highlight=False)
        console.print()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(tables: Sequence[Table], header: str | None = None) -> str:
    """GitHub-flavoured markdown: a heading and a table per section table, its notes below."""
    parts: list[str] = []
    if header:
        parts.append(header)
    for table in tables:
        lines = [f"### {_cell(table.title)}", ""]
        lines.append("| " + " | ".join(_cell(c) for c in table.columns) + " |")
        lines.append(
            "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(table.columns))) + "|"
        )
        lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows)
        if table.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in table.notes)
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
