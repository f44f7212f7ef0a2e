"""`GET /v1/b2b/gatehouse/changes`: policy changes pushed to SDKs as server-sent events (a
Gatehouse extension; docs/CLIENT.md).

    event: ready                 on connect, with the project's policy version
    event: policy                the project policy changed: {"policy_version": N}
    event: organization_policy   an organization changed (its custom roles may have): {"organization_id": ...}
    event: reset                 the server may have missed changes: drop every cached policy
    : ping                       every 15 s, so proxies and clients see a live connection

Events come from this node's change feed, so a change committed on any node reaches every stream
within the feed's bound.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from gatehouse.api.auth import caller_of, gatehouse_of, run
from gatehouse.api.operations import B2B_ERRORS, documented
from gatehouse.api.parsing import parse_query
from gatehouse.api.schemas import Empty
from gatehouse.services.node.runtime import RESET, Change

PING_SECONDS = 15.0
# A stream that falls this far behind is told to reset instead of queueing without bound.
QUEUE_LIMIT = 1_000


def _event(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


# The stream's events, for the OpenAPI document (each `data` is one line of JSON).
EVENTS = """Server-sent events (`text/event-stream`) that do not end while the client listens:

| event | data | when |
|---|---|---|
| `ready` | `{"policy_version": N}` | on connect: the project's policy version |
| `policy` | `{"policy_version": N}` | the project's RBAC policy changed |
| `organization_policy` | `{"organization_id": "..."}` | an organization changed (its custom roles may have) |
| `reset` | `{}` | the server may have missed changes: drop every cached policy |

A comment line `: ping` comes every 15 s, so proxies and clients see a live connection. A change
committed on any node reaches every stream within the change feed's bound (docs/PERFORMANCE.md).
The answer carries `Cache-Control: no-store`."""


@documented(
    "Policy changes as server-sent events (a Gatehouse extension; docs/CLIENT.md)",
    None,
    Empty,
    errors=B2B_ERRORS,
    tag="Gatehouse",
    media_type="text/event-stream",
    description=EVENTS,
)
async def changes(request: Request) -> StreamingResponse:
    caller = await caller_of(request)
    parse_query(request, Empty)
    gatehouse = gatehouse_of(request)
    environment_id = caller.environment.id
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Change | None] = asyncio.Queue()

    def deliver(change: Change) -> None:  # called on the feed thread
        if change.kind == "reset" or change.environment_id == environment_id:
            loop.call_soon_threadsafe(_enqueue, change)

    def _enqueue(change: Change) -> None:
        if queue.qsize() >= QUEUE_LIMIT:
            while not queue.empty():
                queue.get_nowait()
            change = RESET
        queue.put_nowait(change)

    unsubscribe = gatehouse.runtime.subscribe(deliver)
    rbac = gatehouse.rbac

    try:
        # Subscribed first, then read: a change in between is both in `ready` and sent again.
        current = await run(rbac.policy_version, environment_id)
    except BaseException:
        unsubscribe()
        raise

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield _event("ready", {"policy_version": current})
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), PING_SECONDS)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if change is None:
                    return
                if change.kind == "reset":
                    yield _event("reset", {})
                elif change.kind == "policy":
                    version = await run(rbac.policy_version, environment_id)
                    yield _event("policy", {"policy_version": version})
                elif change.kind == "organization":
                    yield _event("organization_policy", {"organization_id": change.key})
        finally:
            unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


routes = [Route("/v1/b2b/gatehouse/changes", changes, methods=["GET"])]
