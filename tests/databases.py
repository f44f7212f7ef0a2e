"""Throwaway databases for tests: a temporary SQLite file, or a fresh PostgreSQL database.

The backend comes from GATEHOUSE_TEST_DATABASE_URL: unset (or `sqlite`) means SQLite; a
`postgresql+psycopg://...` URL names a server on which each call creates, and later drops, a
database of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def backend() -> str:
    url = os.environ.get("GATEHOUSE_TEST_DATABASE_URL", "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


@contextmanager
def throwaway_database(tmp_dir: Path) -> Iterator[str]:
    """Yield the URL of an empty database that is removed afterwards."""
    base = os.environ.get("GATEHOUSE_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp_dir / f'gatehouse-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"gatehouse_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
