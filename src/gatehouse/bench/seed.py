"""Bulk seeding for the scale benchmark: organizations, members and sessions written straight
into the real schema (executemany on SQLite, COPY on PostgreSQL), for sizes the API would take
hours to build."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

CHUNK = 10_000
ADMIN_EVERY = 10  # every tenth member holds stytch_admin directly


class SampleSession(NamedTuple):
    token: str
    organization_id: str
    member_id: str
    admin: bool


@dataclass(frozen=True)
class Seeded:
    project_id: str
    secret: str
    sessions: list[SampleSession]
    seconds: float


def seed(
    database_url: str, members: int, organizations: int, sample: int, settings: Any = None
) -> Seeded:
    """A workspace (`Gatehouse.initialise`), then `organizations` organizations and `members`
    members spread over them round-robin, inserted in bulk into the real schema, and a session
    each for up to `sample` + 1 members spread over the range (the first one primes a node)."""
    from sqlalchemy import text

    from gatehouse.services.wiring import Gatehouse
    from gatehouse.storage import SqlStore, make_engine, migrate
    from gatehouse.storage.sql import tables as t

    started = time.perf_counter()
    engine = make_engine(database_url)
    try:
        migrate(engine)
        # `settings`: the server's (its encryption keys seal the signing key made here).
        initialised = Gatehouse(SqlStore(engine), settings).initialise(
            "bench@example.com", "Bench", "Scale bench"
        )
        environment = initialised["project"]["environments"]["test"]
        environment_id = environment["project_id"]
        write = _copy_rows if engine.dialect.name == "postgresql" else _insert_rows
        now = dt.datetime.now(dt.UTC)
        org_ids = [f"organization-test-{uuid.uuid4()}" for _ in range(organizations)]
        write(engine, t.organizations, _organizations(environment_id, org_ids, now))
        picks = {k * members // (sample + 1) for k in range(sample + 1)}
        sampled: dict[int, str] = {}
        admins: list[str] = []
        write(
            engine,
            t.members,
            _members(environment_id, org_ids, members, now, picks, sampled, admins),
        )
        write(
            engine,
            t.member_roles,
            (
                {"member_id": m, "role_id": "stytch_admin", "environment_id": environment_id}
                for m in admins
            ),
        )
        _derived_rows(engine, environment_id)
        sessions: list[SampleSession] = []
        write(engine, t.member_sessions, _sessions(environment_id, org_ids, sampled, sessions))
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return Seeded(environment_id, environment["secret"], sessions, time.perf_counter() - started)


def _derived_rows(engine: Any, environment_id: str) -> None:
    """The rows the store keeps in step with organizations and members (their identifiers and
    current addresses), derived in the database from the rows just written."""
    from sqlalchemy import false, insert, literal, null, select

    from gatehouse.storage.sql import tables as t

    o, m = t.organizations, t.members
    ident = t.organization_identifiers
    columns = ["environment_id", "identifier", "organization_id", "kind"]
    with engine.begin() as conn:
        for column, kind in ((o.c.id, "id"), (o.c.slug, "slug")):
            conn.execute(
                insert(ident).from_select(
                    columns,
                    select(o.c.environment_id, column, o.c.id, literal(kind)).where(
                        o.c.environment_id == environment_id
                    ),
                )
            )
        conn.execute(
            insert(t.member_emails).from_select(
                [
                    "organization_id",
                    "email_lower",
                    "member_id",
                    "email",
                    "email_id",
                    "retired",
                    "created_at",
                ],
                select(
                    m.c.organization_id,
                    m.c.email_lower,
                    m.c.id,
                    m.c.email,
                    null(),
                    false(),
                    m.c.created_at,
                ).where(m.c.environment_id == environment_id),
            )
        )


def _organizations(
    environment_id: str, org_ids: list[str], now: dt.datetime
) -> Iterator[dict[str, Any]]:
    for i, org_id in enumerate(org_ids):
        yield {
            "id": org_id,
            "environment_id": environment_id,
            "name": f"Organization {i}",
            "slug": f"org-{i}",
            "external_id": None,
            "trusted_metadata": {},
            "settings": {},
            "custom_roles": [],
            "created_at": now,
            "updated_at": now,
        }


def _members(
    environment_id: str,
    org_ids: list[str],
    members: int,
    now: dt.datetime,
    picks: set[int],
    sampled: dict[int, str],
    admins: list[str],
) -> Iterator[dict[str, Any]]:
    """Member rows. Only the ids needed later are kept (`sampled` by index, and `admins`), so a
    million rows stream through without being held."""
    for i in range(members):
        member_id = f"member-test-{uuid.uuid4()}"
        if i in picks:
            sampled[i] = member_id
        if i % ADMIN_EVERY == 0:
            admins.append(member_id)
        email = _email(i, len(org_ids))
        yield {
            "id": member_id,
            "environment_id": environment_id,
            "organization_id": org_ids[i % len(org_ids)],
            "email": email,
            "email_lower": email,
            "status": "active",
            "name": f"Member {i}",
            "external_id": None,
            "is_breakglass": False,
            "email_verified": True,
            "mfa_enrolled": False,
            "mfa_phone_number": "",
            "mfa_phone_verified": False,
            "default_mfa_method": "",
            "totp_registration_id": "",
            "trusted_metadata": {},
            "untrusted_metadata": {},
            "password_id": None,
            "password_hash": None,
            "created_at": now,
            "updated_at": now,
            "scim": None,
        }


def _email(i: int, organizations: int) -> str:
    return f"member{i}@org{i % organizations}.example.com"


def _sessions(
    environment_id: str,
    org_ids: list[str],
    sampled: dict[int, str],
    out: list[SampleSession],
) -> Iterator[dict[str, Any]]:
    """A live session per sampled member, with a known token. Stamped when written (the last
    step), so a measurement starting soon after finds `last_accessed_at` fresh and a check is a
    pure read, as it is for an active user."""
    from gatehouse.services.b2b.passwords import password_factor
    from gatehouse.services.security.credentials import new_token, token_digest

    now = dt.datetime.now(dt.UTC)
    for i, member_id in sorted(sampled.items()):
        token = new_token()
        org_id = org_ids[i % len(org_ids)]
        out.append(SampleSession(token, org_id, member_id, i % ADMIN_EVERY == 0))
        yield {
            "id": f"member-session-test-{uuid.uuid4()}",
            "environment_id": environment_id,
            "organization_id": org_id,
            "member_id": member_id,
            "token_hash": token_digest(token),
            "authentication_factors": [password_factor(member_id, _email(i, len(org_ids)))],
            "custom_claims": {},
            "started_at": now,
            "last_accessed_at": now,
            "expires_at": now + dt.timedelta(days=1),
            "revoked_at": None,
        }


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert_rows(engine: Any, table: Any, rows: Iterable[dict[str, Any]]) -> None:
    """SQLite: executemany of 10k rows at a time, in one transaction per table.

    Values are converted by the columns' own SQLAlchemy bind processors (so they are stored
    exactly as the store writes them), but each shared object (the one timestamp, the empty
    JSON documents) is converted once, not once per row: per-row conversion was most of the
    time of a million-member seed.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    names = list(first)
    processors = [table.c[name].type.bind_processor(engine.dialect) for name in names]
    columns = ", ".join(f'"{name}"' for name in names)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({", ".join("?" * len(names))})'
    converted: dict[tuple[int, str], Any] = {}  # (column, repr of the value) -> stored form

    def convert(value: Any, column: int) -> Any:
        processor = processors[column]
        if processor is None or value is None or isinstance(value, str):
            return value
        if isinstance(value, bool | int):
            return processor(value)
        key = (column, repr(value))
        if key not in converted:
            if len(converted) > 1_000:
                converted.clear()  # bounded, whatever the rows hold
            converted[key] = processor(value)
        return converted[key]

    def tuples(chunk: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [tuple(convert(row[name], i) for i, name in enumerate(names)) for row in chunk]

    with engine.begin() as conn:
        # A large page cache for this connection only: a million random-key index inserts.
        conn.exec_driver_sql("PRAGMA cache_size=-262144")
        for chunk in _chunks(itertools.chain([first], rows)):
            conn.exec_driver_sql(sql, tuples(chunk))


def _copy_rows(engine: Any, table: Any, rows: Iterable[dict[str, Any]]) -> None:
    """PostgreSQL COPY through psycopg: several times faster than batched INSERTs."""
    from sqlalchemy import JSON

    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    names = list(first)  # the columns the rows name; the others keep their server defaults
    as_json = {column.name for column in table.columns if isinstance(column.type, JSON)}
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        columns = ", ".join(f'"{name}"' for name in names)
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for row in itertools.chain([first], rows):
                copy.write_row([json.dumps(row[n]) if n in as_json else row[n] for n in names])
        raw.commit()
    finally:
        raw.close()


def insert_events(engine: Any, rows: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Event rows (`NewEvent`s) in bulk; the lowest and highest id they were given."""
    from sqlalchemy import func, select

    from gatehouse.storage.sql import tables as t

    e = t.events
    with engine.connect() as conn:
        before = conn.execute(select(func.max(e.c.id))).scalar() or 0
    write = _copy_rows if engine.dialect.name == "postgresql" else _insert_rows
    write(engine, e, rows)
    with engine.connect() as conn:
        low, high = conn.execute(
            select(func.min(e.c.id), func.max(e.c.id)).where(e.c.id > before)
        ).one()
    return int(low), int(high)
