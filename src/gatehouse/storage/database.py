"""Engine creation and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from gatehouse.config import DEFAULT_DATABASE_URL

MIGRATIONS = Path(__file__).parent / "migrations"
# How long a write waits for another writer's lock before giving up (`database_busy_timeout_seconds`).
DEFAULT_BUSY_TIMEOUT_SECONDS = 10.0


def default_database_url() -> str:
    """The `database_url` setting's default; the setting itself is read by gatehouse.config."""
    return DEFAULT_DATABASE_URL


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    return on_connect


def _sqlite_begin(conn: Any) -> None:
    read_only = conn.get_execution_options().get("gatehouse_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str, busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS) -> Engine:
    """An engine whose writes wait at most `busy_timeout_seconds` for another writer's lock
    (SQLite's busy timeout, PostgreSQL's `lock_timeout`); past it the store raises `Busy`."""
    busy_ms = max(1, int(busy_timeout_seconds * 1000))
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
            poolclass=NullPool if path == ":memory:" else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_ms))
        # SQLite's driver begins transactions lazily; take the write lock up front so two writers
        # never deadlock on a read-then-write upgrade.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"options": f"-c lock_timeout={busy_ms}"},
    )


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


# The key of the PostgreSQL advisory lock `migrate` holds: any constant ("gateho" in ASCII).
MIGRATION_LOCK = 0x67617465686F


def has_schema(engine: Engine) -> bool:
    """Whether migrations have ever run on this database (an empty database has no schema)."""
    with engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent, and safe from several nodes starting
    at once: on PostgreSQL a session advisory lock lets one migrate while the others wait, then
    find the schema at head; on SQLite a file lock beside the database does the same)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(engine), "head")
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        return
    if engine.dialect.name != "sqlite":
        command.upgrade(alembic_config(engine), "head")
        return
    # SQLite alters a table by copying it and dropping the original; with foreign keys enforced
    # that drop would cascade into the rows referring to it, so migrations run without them.
    migrating = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 10})
    event.listen(migrating, "connect", _sqlite_migration_pragmas)
    event.listen(migrating, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with _migration_lock(sqlite_path(engine.url.render_as_string(hide_password=False))):
            command.upgrade(alembic_config(migrating), "head")
    finally:
        migrating.dispose()


@contextmanager
def _migration_lock(database: Path | None) -> Iterator[None]:
    """One migrating process at a time per SQLite file, across processes: an exclusive lock on
    `<file>.migration-lock` beside it (SQLite is one host's, so a file lock covers every node).
    BEGIN IMMEDIATE on each of alembic's transactions alone did not serialize two nodes: now and
    then the second ran a migration the first had already applied (`table changes already
    exists`, in tests/storage/test_operations.py). In-memory databases have one process and need
    no lock."""
    if database is None:
        yield
        return
    with open(database.with_name(database.name + ".migration-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _sqlite_migration_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def schema_at_head(engine: Engine) -> bool:
    """Whether the database's revision is the newest one this code ships."""
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None: not SQLite, or an in-memory database)."""
    parsed = make_url(url)
    if not parsed.get_backend_name() == "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def backup_sqlite(url: str, destination: Path) -> int:
    """Copy a live SQLite database to `destination` with SQLite's online backup API: a
    consistent snapshot of every committed transaction (the WAL's included) while others keep
    writing. The copy is one self-contained file (journal mode DELETE). Returns its size."""
    source = sqlite_path(url)
    if source is None:
        raise ValueError("not a SQLite database file")
    if not source.is_file():
        raise FileNotFoundError(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10)
    try:
        dst = sqlite3.connect(partial)
        try:
            # Pages in steps, so a writer waits at most one step (busy: retried by the API).
            src.backup(dst, pages=1024, sleep=0.005)
            dst.execute("PRAGMA journal_mode=DELETE")
            problems = dst.execute("PRAGMA integrity_check").fetchall()
        finally:
            dst.close()
    finally:
        src.close()
    if problems != [("ok",)]:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the copy failed its integrity check: {problems[:3]}")
    partial.replace(destination)
    return destination.stat().st_size
