"""Fixtures for the client's tests: the shared world (tests/client/world.py) on the module's
server, and clients that are closed when the test ends, with the requests they made written down
(an httpx event hook on the real transport)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gatehouse.client import Client
from tests.client.world import World, build_world
from tests.server import RunningServer


@pytest.fixture(scope="module")
def world(server: RunningServer) -> World:
    return build_world(server)


class Recorded:
    """A real httpx client whose requests (method, path) are listed in `calls`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.http = httpx.Client(timeout=30, event_hooks={"request": [self._record]})

    def _record(self, request: httpx.Request) -> None:
        self.calls.append((request.method, urlsplit(str(request.url)).path))

    def paths(self, prefix: str = "") -> list[str]:
        return [p for _, p in list(self.calls) if p.startswith(prefix)]


MakeClient = Callable[..., tuple[Client, Recorded]]


@pytest.fixture
def make_client(server: RunningServer) -> Iterator[MakeClient]:
    """`make_client(**options)`: a Client of the test project (push off and no polling unless
    asked), and its request log."""
    made: list[tuple[Client, Recorded]] = []

    def make(**options: Any) -> tuple[Client, Recorded]:
        recorded = Recorded()
        settings: dict[str, Any] = {"push": False, "poll_seconds": 3600.0, **options}
        client = Client(server.project_id, server.secret, server.url, http=recorded.http, **settings)
        made.append((client, recorded))
        return client, recorded

    yield make
    for client, recorded in made:
        client.close()
        recorded.http.close()
