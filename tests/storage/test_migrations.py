"""Alembic migrations: idempotent, and producing exactly the schema of sql/tables.py.

Runs against whichever backend GATEHOUSE_TEST_DATABASE_URL selects (see tests/databases.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select

from gatehouse.storage import make_engine, migrate
from gatehouse.storage.database import alembic_config
from gatehouse.storage.sql.tables import metadata, workspaces


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema(engine: Engine) -> dict[str, Any]:
    """Tables, columns, keys, indexes and constraints, as the database reports them."""
    inspector = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return out


def test_migrating_twice_is_idempotent(engine: Engine) -> None:
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision(engine) is not None
    first = schema(engine)

    row = {
        "id": "workspace-test-1",
        "name": "Kept",
        "created_at": dt.datetime.now(dt.UTC),
        "settings": {"plan": "free"},
    }
    with engine.begin() as conn:
        conn.execute(workspaces.insert().values(**row))

    migrate(engine)
    assert current_revision(engine) == head_revision(engine)
    assert schema(engine) == first
    with engine.connect() as conn:
        assert [dict(r._mapping) for r in conn.execute(select(workspaces))] == [row]


def test_migrated_schema_matches_table_metadata(engine: Engine) -> None:
    migrate(engine)

    reported = schema(engine)
    assert set(reported) == set(metadata.tables) | {"alembic_version"}
    for name, table in metadata.tables.items():
        assert [(c, nullable) for c, _, nullable in reported[name]["columns"]] == [
            (c.name, c.nullable) for c in table.columns
        ], name

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_upgrading_a_0001_database_keeps_its_data_and_names_it(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import text

    command.upgrade(alembic_config(engine), "0001")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO workspaces (id, name, created_at) VALUES ('w1', 'Old', :now)"),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO projects (id, workspace_id, name, created_at) "
                "VALUES ('project-1', 'w1', 'Old project', :now)"
            ),
            {"now": now},
        )
        for kind in ("live", "test"):
            conn.execute(
                text(
                    "INSERT INTO environments (id, project_id, kind, name, policy_version, policy, "
                    "created_at) VALUES (:id, 'project-1', :kind, :kind, 3, '{}', :now)"
                ),
                {"id": f"project-{kind}-1", "kind": kind, "now": now},
            )
    migrate(engine)
    with engine.connect() as conn:
        projects = conn.execute(text("SELECT id, slug, vertical FROM projects")).all()
        environments = conn.execute(
            text(
                "SELECT id, slug, user_impersonation_enabled, policy_version FROM environments ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in projects] == [("project-1", "project-1", "B2B")]
    assert [tuple(r) for r in environments] == [
        ("project-live-1", "live", False, 3),
        ("project-test-1", "test", False, 3),
    ]
