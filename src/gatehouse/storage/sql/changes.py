"""The change feed: how every node learns, within a second, that a cached entry went stale.

A write that changes what a check would answer (a policy, an organization, a member's roles or
status, a session, an environment's secrets) records a `Change` in its own transaction, so the
change is announced exactly when, and only if, it commits:

- PostgreSQL: `pg_notify` on one channel. Notifications are delivered at commit, in commit order,
  to every listening connection; a node that loses its listening connection may have missed some,
  so it is told to reset (drop every cached entry) when it reconnects.
- SQLite: a row in the `changes` table, polled by sequence number. SQLite has one writer at a time,
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

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from gatehouse.storage.interface import Change
from gatehouse.storage.sql import tables as t

log = logging.getLogger("gatehouse.changes")

CHANNEL = "gatehouse_changes"
POLL_SECONDS = 0.1
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
) -> None:
    """Deliver every committed change to `on_change` until `stop` is set (blocking; run it in a
    thread). `on_reset` is called whenever changes may have been missed; `on_ready` each time
    (re)connected, from when changes committed later are sure to be delivered."""
    backoff = 0.1
    while not stop.is_set():
        try:
            if engine.dialect.name == "postgresql":
                _listen_postgresql(engine, on_change, on_ready, stop)
            else:
                _poll_sqlite(engine, on_change, on_ready, stop)
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
) -> None:
    c = t.changes
    with engine.connect().execution_options(gatehouse_read_only=True) as conn:
        with conn.begin():
            last = conn.execute(select(func.coalesce(func.max(c.c.seq), 0))).scalar_one()
    on_ready()
    pruned_at = 0.0
    while not stop.wait(POLL_SECONDS):
        with engine.connect().execution_options(gatehouse_read_only=True) as conn:
            with conn.begin():
                rows = conn.execute(
                    select(c.c.seq, c.c.environment_id, c.c.kind, c.c.key)
                    .where(c.c.seq > last)
                    .order_by(c.c.seq)
                    .limit(1000)
                ).all()
        for seq, environment_id, kind, key in rows:
            on_change(Change(environment_id, kind, key))
            last = seq
        now = time.monotonic()
        if now - pruned_at >= PRUNE_EVERY_SECONDS:
            pruned_at = now
            with engine.begin() as conn:
                conn.execute(delete(c).where(c.c.created_at < dt.datetime.now(dt.UTC) - HORIZON))
