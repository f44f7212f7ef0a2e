"""`gatehouse backup FILE`: a consistent copy of a live SQLite database (docs/OPERATIONS.md).

Registered on the `gatehouse` command when cli/main.py imports it. SQLite's online backup API
copies every committed transaction, the write-ahead log's (`-wal` beside the database) included,
while the server keeps serving; the copy is one self-contained file that `gatehouse serve` opens
as it is.
PostgreSQL is backed up with `pg_dump` (docs/OPERATIONS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gatehouse.cli.shell import Command, ConfigFile, app, fail, load, with_setting_flags


@app.command(cls=Command)
@with_setting_flags(["database_url"])
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the copy (replaced if it exists).")],
    config_file: ConfigFile = None,
    **flags: str | bool | None,
) -> None:
    """Copy the SQLite database to FILE while the server runs (PostgreSQL: use pg_dump)."""
    from gatehouse.storage.database import backup_sqlite, sqlite_path

    settings = load(config_file, flags).settings
    source = sqlite_path(settings.database_url)
    if source is None:
        fail(
            "`gatehouse backup` copies a SQLite database file; back PostgreSQL up with "
            "`pg_dump --format=custom` (docs/OPERATIONS.md)"
        )
    if not source.is_file():
        fail(f"there is no database at {source}")
    if file.resolve() == source.resolve():
        fail("the backup must not overwrite the database itself")
    size = backup_sqlite(settings.database_url, file)
    typer.echo(f"backed up {source} to {file} ({size:,} bytes)")
