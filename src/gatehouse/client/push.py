"""Push invalidation: reading `GET /v1/b2b/gatehouse/changes` (server-sent events) and what each
event does to the policy cache. No I/O here; the sync client's thread and the async client's task
feed it lines.

    event: ready                 {"policy_version": 7}   on connect
    event: policy                {"policy_version": 8}   the project policy changed
    event: organization_policy   {"organization_id": …}  that organization's custom roles changed
    event: reset                 {}                      the server may have missed changes
    : ping                                               every 15 s

The SSE subset parsed is what that endpoint sends (`event`, `data`, comments, blank-line
dispatch); `id` and `retry` are ignored, as are events this client does not know, so the server
may add some.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gatehouse.client.policies import PolicyCache

CHANGES_PATH = "/v1/b2b/gatehouse/changes"
# The server pings every 15 s; a stream silent for this long is dead, whatever TCP thinks.
READ_TIMEOUT_SECONDS = 45.0
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    data: dict[str, Any]


class SseDecoder:
    """Turns the stream's lines (without their line ending) into events."""

    def __init__(self) -> None:
        self._name = ""
        self._data: list[str] = []

    def line(self, text: str) -> Event | None:
        if not text:
            return self._dispatch()
        if text.startswith(":"):
            return None
        field, _, value = text.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> Event | None:
        name, data = self._name or "message", "\n".join(self._data)
        had_data = bool(self._data)
        self._name, self._data = "", []
        if not had_data:
            return None
        try:
            parsed = json.loads(data)
        except ValueError:
            return None
        return Event(name, parsed) if isinstance(parsed, dict) else None


def apply(cache: PolicyCache, event: Event) -> bool:
    """Apply `event` to `cache`; True when the project policy must be fetched again."""
    if event.name == "ready":
        cache.stream_connected()
        return cache.version != event.data.get("policy_version")
    if event.name == "policy":
        version = event.data.get("policy_version")
        current = cache.version
        return not isinstance(version, int) or current is None or version > current
    if event.name == "organization_policy":
        organization_id = event.data.get("organization_id")
        if isinstance(organization_id, str):
            cache.drop_org(organization_id)
        else:
            cache.drop_orgs()
        return False
    if event.name == "reset":
        cache.drop_orgs()
        return True
    return False


class Backoff:
    """Reconnect delays: doubling from `BACKOFF_FIRST_SECONDS` up to `BACKOFF_MAX_SECONDS`,
    back to the first once a stream said `ready`."""

    def __init__(self) -> None:
        self._next = BACKOFF_FIRST_SECONDS

    def reset(self) -> None:
        self._next = BACKOFF_FIRST_SECONDS

    def delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, BACKOFF_MAX_SECONDS)
        return delay
