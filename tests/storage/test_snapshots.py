"""The tests' "nothing changed" snapshots (tests/databases.py), on whichever backend is selected:
computed in the database, they must still tell apart any two databases whose rows differ, in any
column of any table, and not depend on the order of the rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import JSON, Connection, MetaData, Table, and_, create_engine, select, text

from gatehouse.config import Settings
from gatehouse.services.context import Caller
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import SqlStore, make_engine
from tests.databases import DatabaseSnapshots, Snapshot
from tests.server import FAST_ARGON2


@pytest.fixture
def populated(migrated_database_url: str) -> Iterator[str]:
    """A database as `gatehouse init` leaves it, with an organization and a member added."""
    store = SqlStore(make_engine(migrated_database_url))
    try:
        services = Gatehouse(store, Settings(**FAST_ARGON2))
        initialised = services.initialise("admin@example.com", "Snapshots", "Snapshot project")
        project_id = initialised["project"]["environments"]["test"]["project_id"]
        with store.transaction() as tx:
            environment = services.runtime.load_environment(tx, project_id)
        assert environment is not None
        caller = Caller(environment, "test")
        org = services.organizations.create(caller, {"organization_name": "Acme"})
        services.members.create(
            caller, org["id"], {"email_address": "ed@example.com", "roles": ["stytch_admin"]}
        )
    finally:
        store.engine.dispose()
    yield migrated_database_url


@pytest.fixture
def snapshots(populated: str) -> Iterator[DatabaseSnapshots]:
    taking = DatabaseSnapshots(populated)
    yield taking
    taking.close()


def _without_constraints(conn: Connection) -> None:
    """Rows may be taken out and put back, and keys changed, in any order, in this transaction."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    else:
        conn.execute(text("SET LOCAL session_replication_role = replica"))


def _other(value: Any, column: Any) -> Any:
    """A value of the same type as `value` that differs from it."""
    if isinstance(column.type, JSON):
        return {"changed": value}
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1_000_000
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(microseconds=1)
    if isinstance(value, bytes):
        return value + b"x"
    if isinstance(value, str):
        return value[:-1] + ("y" if value.endswith("x") else "x") if value else "x"
    raise AssertionError(f"no other value for {column}: {value!r}")


@pytest.fixture
def database(populated: str) -> Iterator[tuple[Any, MetaData]]:
    engine = create_engine(populated)
    reflected = MetaData()
    reflected.reflect(engine)
    yield engine, reflected
    engine.dispose()


def test_equal_databases_give_equal_snapshots(snapshots: DatabaseSnapshots) -> None:
    first = snapshots.take()
    assert snapshots.take() == first
    assert first.changes(snapshots.take()) == {}
    # Every table is covered, alembic's too, and the ones filled here hold rows.
    assert {"alembic_version", "members", "organizations", "events", "changes"} <= set(first.tables)
    assert all(first.tables[name][0] > 0 for name in ("alembic_version", "members", "events"))


def test_any_changed_value_of_any_row_of_any_table_changes_the_snapshot(
    snapshots: DatabaseSnapshots, database: tuple[Any, MetaData]
) -> None:
    engine, reflected = database
    original = snapshots.take()
    checked = 0
    for table in reflected.sorted_tables:
        with engine.connect() as conn:
            row = conn.execute(select(table).limit(1)).first()
        if row is None:
            continue
        for column in table.columns:
            value = row._mapping[column.name]
            if value is None:
                continue  # a null becoming a value is checked on the columns that hold one
            changed = _other(value, column)
            with engine.begin() as conn:
                _without_constraints(conn)
                conn.execute(
                    table.update().where(_is(table, row._mapping)).values({column.name: changed})
                )
            after = snapshots.take()
            assert after != original, f"{table.name}.{column.name} changed unnoticed"
            assert set(original.changes(after)) == {table.name}, original.changes(after)
            with engine.begin() as conn:
                _without_constraints(conn)
                restored = {**row._mapping, column.name: changed}
                conn.execute(
                    table.update().where(_is(table, restored)).values({column.name: value})
                )
            assert snapshots.take() == original, f"{table.name}.{column.name} was not restored"
            checked += 1
    assert checked > 20


def test_rows_in_another_order_give_the_same_snapshot_and_one_row_less_does_not(
    snapshots: DatabaseSnapshots, database: tuple[Any, MetaData]
) -> None:
    engine, reflected = database
    original = snapshots.take()
    for table in reflected.sorted_tables:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(table))]
        if not rows:
            continue
        with engine.begin() as conn:
            _without_constraints(conn)
            conn.execute(table.delete())
            if rows[:-1]:
                conn.execute(table.insert(), rows[:-1])
        fewer = snapshots.take()
        assert fewer != original and set(original.changes(fewer)) == {table.name}
        with engine.begin() as conn:
            _without_constraints(conn)
            conn.execute(table.delete())
            conn.execute(table.insert(), rows[::-1])  # all of them again, in reverse
        assert snapshots.take() == original, table.name


def test_rows_can_come_along_for_the_tables_named(snapshots: DatabaseSnapshots) -> None:
    taken = snapshots.take(rows_of=("events",))
    assert taken.rows["events"] and set(taken.rows) == {"events"}
    assert taken == Snapshot(taken.tables)  # the rows are not compared


def _is(table: Table, values: Any) -> Any:
    """The WHERE clause picking out the row with these values by its primary key."""
    key = list(table.primary_key.columns)
    assert key, f"{table.name} has no primary key"
    return and_(*(column == values[column.name] for column in key))
