"""Storage: the Store protocol and its SQL implementation (SQLite and PostgreSQL)."""

from gatehouse.storage.database import default_database_url, make_engine, migrate
from gatehouse.storage.interface import Change, Conflict, Row, StorageError, Store
from gatehouse.storage.sql.store import SqlStore


def open_store(url: str | None = None, *, apply_migrations: bool = True) -> SqlStore:
    engine = make_engine(url or default_database_url())
    if apply_migrations:
        migrate(engine)
    return SqlStore(engine)


__all__ = [
    "Change",
    "Conflict",
    "Row",
    "SqlStore",
    "StorageError",
    "Store",
    "default_database_url",
    "make_engine",
    "migrate",
    "open_store",
]
