"""Storage: the per-domain Protocols, typed rows and transactions (`interface`, `rows`), the
backend-neutral search vocabulary (`search`), and the SQL implementation for SQLite and
PostgreSQL (`sql/`). Only services and the composition roots (CLI, worker) import it."""

from gatehouse.storage.database import (
    DEFAULT_BUSY_TIMEOUT_SECONDS,
    default_database_url,
    has_schema,
    make_engine,
    migrate,
)
from gatehouse.storage.interface import (
    Busy,
    Change,
    Conflict,
    DuplicateValue,
    ReadTx,
    StorageError,
    Store,
    WriteTx,
)
from gatehouse.storage.sql.store import SqlStore


def open_store(
    url: str | None = None,
    *,
    apply_migrations: bool = True,
    busy_timeout_seconds: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
) -> SqlStore:
    engine = make_engine(url or default_database_url(), busy_timeout_seconds)
    if apply_migrations:
        migrate(engine)
    return SqlStore(engine)


__all__ = [
    "Busy",
    "Change",
    "Conflict",
    "DuplicateValue",
    "ReadTx",
    "SqlStore",
    "StorageError",
    "Store",
    "WriteTx",
    "default_database_url",
    "has_schema",
    "make_engine",
    "migrate",
    "open_store",
]
