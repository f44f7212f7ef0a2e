"""The change feed: how every node learns, within a second, that a cached entry went stale.

A write that changes what a check would answer (a policy, an organization, a member's roles or
status, a session, an environment's secrets) records a `Change` in its own transaction, so the
change is announced exactly when, and only if, it commits:

- PostgreSQL: `pg_notify` on one channel. Notifications are delivered at commit, in commit order,
  to every listening connection; a node that loses its listening connection may have missed some,
  so it is told to reset (drop every cached entry) when it reconnects.
- SQLite: a row in the `changes` table, read by sequence number whenever the database's
  `data_version` shows a commit (checked every 10 ms). SQLite has one writer at a time,
  so sequence numbers commit in order and a poller that has read up to N has seen every change
  numbered below N.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, text

from gatehouse.storage.interface import Change
from gatehouse.storage.sql import tables as t

log = logging.getLogger(__name__)

CHANNEL = "gatehouse_changes"
# SQLite: how often a node asks whether anything committed (a cheap pragma, see _poll_sqlite).
POLL_SECONDS = 0.01
# Rows this old are pruned from the SQLite feed: far beyond any poll interval.
HORIZON = dt.timedelta(minutes=10)
PRUNE_EVERY_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 5.0


# Where a transaction keeps the changes it recorded, for the writing node to apply at commit.
PENDING = "gatehouse_changes"


def record(tx: Connection, change: Change) -> None:
    tx.info.setdefault(PENDING, []).append(change)
    if tx.dialect.name == "postgresql":
        payload = json.dumps([change.environment_id, change.kind, change.key])
        tx.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )
        return
    tx.execute(
        insert(t.changes).values(
            environment_id=change.environment_id,
            kind=change.kind,
            key=change.key,
            created_at=dt.datetime.now(dt.UTC),
        )
    )


def listen(
    engine: Engine,
    on_change: Callable[[Change], None],
    on_reset: Callable[[], None],
    on_ready: Callable[[], None],
    stop: threading.Event,
    on_lag: Callable[[float], None] | None = None,
) -> None:
    """Deliver every committed change to `on_change` until `stop` is set (blocking; run it in a
    thread). `on_reset` is called whenever changes may have been missed; `on_ready` each time
    (re)connected, from when changes committed later are sure to be delivered. `on_lag`, where
    it can be measured (SQLite: the feed row's time), gets each change's seconds from its write
    to its delivery; a PostgreSQL notification carries no time."""
    backoff = 0.1
    while not stop.is_set():
        try:
            if engine.dialect.name == "postgresql":
                _listen_postgresql(engine, on_change, on_ready, stop)
            else:
                _poll_sqlite(engine, on_change, on_ready, stop, on_lag)
            return
        except Exception:  # the database went away: reconnect, and assume changes were missed
            log.warning("change feed interrupted; reconnecting", exc_info=True)
            on_reset()
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def _listen_postgresql(
    engine: Engine,
    on_change: Callable[[Change], None],
    on_ready: Callable[[], None],
    stop: threading.Event,
) -> None:
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        conn.autocommit = True
        conn.execute(f"LISTEN {CHANNEL}")
        on_ready()
        while not stop.is_set():
            for notify in conn.notifies(timeout=0.5):
                environment_id, kind, key = json.loads(notify.payload)
                on_change(Change(environment_id, kind, key))
                if stop.is_set():
                    break
    finally:
        # A connection that LISTENed must not go back to the pool.
        raw.invalidate()


def _poll_sqlite(
    engine: Engine,
    on_change: Callable[[Change], None],
    on_ready: Callable[[], None],
    stop: threading.Event,
    on_lag: Callable[[float], None] | None = None,
) -> None:
    # One connection of its own, outside any transaction: `PRAGMA data_version` on it moves when
    # any other connection (this process or another) commits, so the feed table is read only
    # after a commit and the poll itself costs a few microseconds.
    raw = engine.raw_connection()
    try:
        db: Any = raw.driver_connection
        last = db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()[0]
        seen = db.execute("PRAGMA data_version").fetchone()[0]
        on_ready()
        pruned_at = time.monotonic()
        while not stop.wait(POLL_SECONDS):
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version == seen:
                continue
            rows = db.execute(
                "SELECT seq, environment_id, kind, key, created_at FROM changes"
                " WHERE seq > ? ORDER BY seq LIMIT 1000",
                (last,),
            ).fetchall()
            if len(rows) < 1000:
                seen = version  # else: read on at the next poll
            for seq, environment_id, kind, key, created_at in rows:
                on_change(Change(environment_id, kind, key))
                last = seq
                if on_lag is not None:
                    on_lag(_seconds_since(created_at))
            if time.monotonic() - pruned_at >= PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                with engine.begin() as conn:
                    horizon = dt.datetime.now(dt.UTC) - HORIZON
                    conn.execute(delete(t.changes).where(t.changes.c.created_at < horizon))
    finally:
        raw.invalidate()


def _seconds_since(created_at: str) -> float:
    """Seconds from a feed row's `created_at` (naive UTC text, as UTCDateTime stores it) to now."""
    try:
        written = dt.datetime.fromisoformat(created_at).replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return 0.0
    return max(time.time() - written.timestamp(), 0.0)
