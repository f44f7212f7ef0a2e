"""Fixtures for the client's tests: the shared world (tests/client/world.py) on the module's
server, and clients that are closed when the test ends, with the requests they made written down
(an httpx event hook on the real transport), optionally on a fake clock (tests/client/fake_time.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gatehouse.client import Client
from tests.client.fake_time import FakeClock, with_clock
from tests.client.world import World, build_world
from tests.server import RunningServer


@pytest.fixture(scope="module")
def world(server: RunningServer) -> World:
    return build_world(server)


class Recorded:
    """A real httpx client whose requests (method, path) are listed in `calls`, and, given a
    clock, (time on it, path) in `sent`."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.sent: list[tuple[float, str]] = []
        self._clock = clock
        self.http = httpx.Client(timeout=30, event_hooks={"request": [self._record]})

    def _record(self, request: httpx.Request) -> None:
        path = urlsplit(str(request.url)).path
        if self._clock is not None:
            self.sent.append((self._clock.now(), path))
        self.calls.append((request.method, path))

    def paths(self, prefix: str = "") -> list[str]:
        return [p for _, p in list(self.calls) if p.startswith(prefix)]

    def times_of(self, prefix: str) -> list[float]:
        """When the requests to paths starting with `prefix` were sent, on the clock."""
        return [t for t, p in list(self.sent) if p.startswith(prefix)]


MakeClient = Callable[..., tuple[Client, Recorded]]


@pytest.fixture
def make_client(server: RunningServer) -> Iterator[MakeClient]:
    """`make_client(**options)`: a Client of the test project (push off and no polling unless
    asked), and its request log; `clock=FakeClock()` puts it on that clock."""
    made: list[tuple[Client, Recorded]] = []

    def make(clock: FakeClock | None = None, **options: Any) -> tuple[Client, Recorded]:
        recorded = Recorded(clock)
        settings: dict[str, Any] = {"push": False, "poll_seconds": 3600.0, **options}
        cls = Client if clock is None else with_clock(Client, clock)
        client = cls(server.project_id, server.secret, server.url, http=recorded.http, **settings)
        made.append((client, recorded))
        return client, recorded

    yield make
    for client, recorded in made:
        client.close()
        recorded.http.close()
