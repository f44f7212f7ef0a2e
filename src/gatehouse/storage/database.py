"""Engine creation and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
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


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    if engine.dialect.name != "sqlite":
        command.upgrade(alembic_config(engine), "head")
        return
    # SQLite alters a table by copying it and dropping the original; with foreign keys enforced
    # that drop would cascade into the rows referring to it, so migrations run without them.
    migrating = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 10})
    event.listen(migrating, "connect", _sqlite_migration_pragmas)
    event.listen(migrating, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        command.upgrade(alembic_config(migrating), "head")
    finally:
        migrating.dispose()


def _sqlite_migration_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
