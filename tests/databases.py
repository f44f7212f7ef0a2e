"""Throwaway databases for tests: a temporary SQLite file, or a fresh PostgreSQL database.

The backend comes from GATEHOUSE_TEST_DATABASE_URL: unset (or `sqlite`) means SQLite; a
`postgresql+psycopg://...` URL names a server on which each call creates, and later drops, a
database of its own.

Migrating a database takes far longer than copying one, so a test session migrates a template
once (on first use) and every migrated throwaway database starts as a copy of it: on SQLite a copy
of the template's file, on PostgreSQL `CREATE DATABASE ... TEMPLATE`. `empty=True` gives a database
with no schema at all, for tests of the migrations themselves. The conftest drops the template at
the end of the session (`drop_templates`).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from gatehouse.storage import make_engine, migrate
from gatehouse.storage.database import alembic_config
from gatehouse.storage.sql import tables


def backend() -> str:
    url = os.environ.get("GATEHOUSE_TEST_DATABASE_URL", "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def _server_url() -> str:
    return os.environ.get("GATEHOUSE_TEST_DATABASE_URL", "")


def _url_of(base: str, name: str) -> str:
    return make_url(base).set(database=name).render_as_string(hide_password=False)


@contextmanager
def throwaway_database(tmp_dir: Path, *, empty: bool = False) -> Iterator[str]:
    """Yield the URL of a database at the newest migration (with `empty`, of one without any
    schema), removed afterwards."""
    base = _server_url()
    if not base.startswith("postgresql"):
        path = tmp_dir / f"gatehouse-{uuid.uuid4().hex[:8]}.db"
        if not empty:
            shutil.copyfile(_TEMPLATES.sqlite(), path)
        yield f"sqlite:///{path}"
        return
    template = "" if empty else f' TEMPLATE "{_TEMPLATES.postgresql()}"'
    name = f"gatehouse_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
        try:
            yield _url_of(base, name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@cache
def head_revision() -> str | None:
    """The newest migration (read from the migration scripts; no database is opened)."""
    return ScriptDirectory.from_config(
        alembic_config(create_engine("sqlite://"))
    ).get_current_head()


def ensure_migrated(engine: Engine) -> None:
    """Migrate `engine`'s database unless it is already at the newest revision, as every copy of
    the template is: one query instead of a run of alembic."""
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:  # no alembic_version table yet: an empty database
        current = []
    if current != [head_revision()]:
        migrate(engine)


class _Templates:
    """The session's migrated templates, one per backend, each made on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir: Path | None = None  # where the SQLite template goes
        self._made_dir = False
        self._sqlite: Path | None = None
        self._postgresql: tuple[str, str] | None = None  # (server URL, template database name)
        self._exit_hook = False

    def use_directory(self, directory: Path) -> None:
        self._dir = directory

    def sqlite(self) -> Path:
        with self._lock:
            if self._sqlite is None:
                self._on_exit()
                if self._dir is None:
                    self._dir, self._made_dir = Path(tempfile.mkdtemp(prefix="gatehouse-")), True
                path = self._dir / f"template-{uuid.uuid4().hex[:8]}.db"
                _migrate(f"sqlite:///{path}")
                _fully_checkpointed(path)
                self._sqlite = path
            return self._sqlite

    def postgresql(self) -> str:
        """The template database's name. Nothing stays connected to it: PostgreSQL copies only a
        database that no session is using."""
        base = _server_url()
        with self._lock:
            if self._postgresql is None or self._postgresql[0] != base:
                self._on_exit()
                name = f"gatehouse_template_{uuid.uuid4().hex[:12]}"
                _admin(base, f'CREATE DATABASE "{name}"')
                try:
                    _migrate(_url_of(base, name))
                except BaseException:
                    _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    raise
                self._postgresql = (base, name)
            return self._postgresql[1]

    def drop(self) -> None:
        with self._lock:
            if self._postgresql is not None:
                base, name = self._postgresql
                self._postgresql = None
                _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if self._sqlite is not None:
                self._sqlite.unlink(missing_ok=True)
                self._sqlite = None
            if self._made_dir and self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir, self._made_dir = None, False

    def _on_exit(self) -> None:
        # The conftest drops the templates at the end of the session; this is for other callers
        # (and a session that dies before its teardown).
        if not self._exit_hook:
            atexit.register(self.drop)
            self._exit_hook = True


def _admin(base: str, statement: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()


def _fully_checkpointed(path: Path) -> None:
    """Leave everything in the SQLite file itself, so that copying the one file copies the whole
    database: no write-ahead log or rollback journal beside it."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (mode,) = conn.execute("PRAGMA journal_mode=DELETE").fetchone()
        assert mode == "delete", mode
    finally:
        conn.close()
    for suffix in ("-wal", "-shm", "-journal"):
        leftover = path.with_name(path.name + suffix)
        assert not leftover.exists(), f"{leftover} is left beside the template"


_TEMPLATES = _Templates()
use_template_directory = _TEMPLATES.use_directory
drop_templates = _TEMPLATES.drop


# -- "nothing changed": snapshots compared in the database --------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """For every table in the database, its row count and a digest of all its rows that does not
    depend on their order: two snapshots are equal when no row of any table was added, removed or
    changed. `rows` holds the canonically serialised rows of the tables asked for by name (not
    compared)."""

    tables: dict[str, tuple[int, str | None]]
    rows: dict[str, list[str]] = field(default_factory=dict, compare=False)

    def changes(self, after: Snapshot) -> dict[str, str]:
        """The tables that differ in `after`, each with what is known of how."""
        out: dict[str, str] = {}
        for name in sorted(self.tables.keys() | after.tables.keys()):
            before_table, after_table = self.tables.get(name), after.tables.get(name)
            if before_table == after_table:
                continue
            if before_table is None or after_table is None:
                out[name] = "created" if before_table is None else "dropped"
            elif before_table[0] != after_table[0]:
                out[name] = f"{before_table[0]} rows, then {after_table[0]}"
            else:
                out[name] = f"rows changed ({after_table[0]} rows before and after)"
        return out


class DatabaseSnapshots:
    """Takes `Snapshot`s of the database at `url` over a connection of its own.

    PostgreSQL digests each row's text form with md5 and the sorted row digests again. SQLite has
    no hash function, so this connection registers an aggregate that does the same with sha256 over
    each row's SQL literals (`quote()`, which tells types apart and round-trips every value).

    On SQLite the connection stays open, and `PRAGMA data_version` (which changes whenever another
    connection commits a change to the file) says when nothing was written since the last
    snapshot: its digests, and any rows serialised, are then still those of the database.
    """

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._conn: Connection | None = None
        # SQLite: the digest query and the schema it was made for (PRAGMA schema_version).
        self._query: tuple[int, Any] | None = None
        # SQLite: the last snapshot, and the data_version it was taken at.
        self._last: tuple[int, Snapshot] | None = None
        if self._sqlite:
            event.listen(self.engine, "connect", _register_rows_digest)

    def take(self, *, rows_of: tuple[str, ...] = ()) -> Snapshot:
        if not self._sqlite:
            with self.engine.connect() as conn:
                return _taken(conn, _postgresql_digest_query(conn), rows_of)
        if self._conn is None:
            self._conn = self.engine.connect()
        conn = self._conn
        try:
            version = conn.exec_driver_sql("PRAGMA data_version").scalar_one()
            if self._last is not None and self._last[0] == version:
                last = self._last[1]
                missing = tuple(name for name in rows_of if name not in last.rows)
                rows = {**last.rows, **_taken(conn, None, missing).rows}
                taken = Snapshot(last.tables, rows)
            else:
                taken = _taken(conn, self._digest_query(conn), rows_of)
            self._last = (version, taken)
        finally:
            conn.rollback()  # no statement left open: a reader must not hold the WAL back
        return Snapshot(taken.tables, {name: taken.rows[name] for name in rows_of})

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()

    def _digest_query(self, conn: Connection) -> Any:
        schema = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
        if self._query is None or self._query[0] != schema:
            self._query = (schema, _sqlite_digest_query(conn))
        return self._query[1]


def _taken(conn: Connection, digests: Any, rows_of: tuple[str, ...]) -> Snapshot:
    found = {}
    if digests is not None:
        found = {name: (count, digest) for name, count, digest in conn.execute(digests)}
    rows = {}
    for name in rows_of:
        table = tables.metadata.tables[name]
        rows[name] = sorted(
            json.dumps(dict(r._mapping), default=str, sort_keys=True)
            for r in conn.execute(select(table))
        )
    return Snapshot(found, rows)


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _union(per_table: list[str], names: list[str]) -> Any:
    if not per_table:
        return None  # a database without tables
    return text(" UNION ALL ".join(per_table)).bindparams(
        **{f"t{i}": name for i, name in enumerate(names)}
    )


def _sqlite_digest_query(conn: Connection) -> Any:
    columns: dict[str, list[str]] = {}
    listed = conn.exec_driver_sql(
        "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
        "WHERE m.type = 'table' ORDER BY m.name, p.cid"
    )
    for table, column in listed:
        columns.setdefault(table, []).append(column)
    names = sorted(columns)
    per_table = [
        f"SELECT :t{i}, count(*), gatehouse_rows_digest(CAST("
        + " || ',' || ".join(f"quote({_quoted(c)})" for c in columns[name])
        + f" AS BLOB)) FROM {_quoted(name)}"
        for i, name in enumerate(names)
    ]
    return _union(per_table, names)


def _postgresql_digest_query(conn: Connection) -> Any:
    names = list(
        conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename"
            )
        ).scalars()
    )
    per_table = [
        f"SELECT CAST(:t{i} AS text), count(*), md5(string_agg(h, '' ORDER BY h)) "
        f"FROM (SELECT md5(ROW(r.*)::text) AS h FROM {_quoted(name)} AS r) AS hashed"
        for i, name in enumerate(names)
    ]
    return _union(per_table, names)


class _RowsDigest:
    """sha256 of the sorted sha256 digests of the rows it is given: the same rows, in any order,
    give the same digest; one more, one fewer or one changed row give another."""

    def __init__(self) -> None:
        self.digests: list[bytes] = []

    def step(self, row: bytes) -> None:
        self.digests.append(hashlib.sha256(row).digest())

    def finalize(self) -> str:
        return hashlib.sha256(b"".join(sorted(self.digests))).hexdigest()


def _register_rows_digest(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_aggregate("gatehouse_rows_digest", 1, _RowsDigest)
