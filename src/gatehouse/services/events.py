"""The environment's event log: every write records who did what to which object, and what changed."""

from __future__ import annotations

from typing import Any

from gatehouse.services import clock
from gatehouse.services.context import Caller
from gatehouse.storage.interface import EventStore, WriteTx


def record(
    store: EventStore,
    tx: WriteTx,
    environment_id: str,
    actor: str,
    action: str,
    target: str,
    changes: dict[str, Any] | None = None,
    *,
    actor_role: str | None = None,
) -> None:
    store.insert_event(
        tx,
        {
            "environment_id": environment_id,
            "actor": actor,
            "actor_role": actor_role,
            "action": action,
            "target": target,
            "changes": _redact(changes or {}),
            "created_at": clock.now(),
        },
    )


def record_call(
    store: EventStore,
    tx: WriteTx,
    caller: Caller,
    action: str,
    target: str,
    changes: dict[str, Any] | None = None,
) -> None:
    """`record` for a B2B call: in the caller's environment, as the caller (and their role)."""
    record(
        store,
        tx,
        caller.environment.id,
        caller.actor,
        action,
        target,
        changes,
        actor_role=caller.actor_role,
    )


_SECRET_FIELDS = frozenset(
    {"password", "hash", "password_hash", "secret", "session_token", "session_jwt"}
)


def _redact(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if k in _SECRET_FIELDS else v) for k, v in changes.items()}
