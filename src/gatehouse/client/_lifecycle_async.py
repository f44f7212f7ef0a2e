"""What is particular to `AsyncClient`, the asyncio client for async apps (Starlette, FastAPI,
aiohttp).

Its background worker is a task on the app's event loop, started on first use or by
`async with`, so an `AsyncClient` belongs to one loop; `aclose()` cancels the task. Its locks are
asyncio locks, and waiting for a policy version awaits. Verifying a JWT and checking are CPU work
of microseconds once warm and run inline; only fetches (keys, policies) await. `AsyncClient`
(`asynchronous.py`) is the source `Client` is generated from (`scripts/unasync`); this module
and `_lifecycle_sync.py` are the hand-written halves that differ.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from gatehouse.client import clock
from gatehouse.client.policies import PolicyCache

Lock = asyncio.Lock


class Clock(clock.Clock):
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """True once `event` is set, False when `seconds` passed first."""
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            return False
        return True


class Worker:
    """The client's background task (`run`), and the waits for a policy version."""

    def __init__(
        self, run: Callable[[], Coroutine[Any, Any, None]], cache: PolicyCache, clock: Clock
    ) -> None:
        self._run = run
        self._cache = cache
        self._clock = clock
        self._replaced = asyncio.Event()  # set whenever a newer policy is stored
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def on_init(self) -> None:
        """Nothing yet: the client may be made outside the loop it will be used on."""

    def on_use(self) -> None:
        """Start the task on the running loop, once."""
        if self._task is None and not self._stopped:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="gatehouse-client"
            )

    @property
    def stopped(self) -> bool:
        return self._stopped

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`; `stop()` cancels the task, sleeping or not."""
        await self._clock.sleep(seconds)

    def stream_opened(self, response: httpx.Response) -> None:
        """Nothing to keep: cancelling the task ends a pending read."""

    def stream_closed(self) -> None:
        pass

    async def stop(self) -> bool:
        """Cancel the task and wait for it to end; False if it was stopped already."""
        if self._stopped:
            return False
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return True

    def replaced(self) -> None:
        """A newer project policy was stored: wake whoever waits for a version."""
        self._replaced.set()

    async def wait_for_version(self, version: int, timeout: float) -> bool:
        """Wait until the cached project policy is at least `version`, or `timeout` passes."""
        deadline = self._clock.now() + timeout
        while not self._cache.has_version(version):
            remaining = deadline - self._clock.now()
            if remaining <= 0:
                return False
            self._replaced.clear()
            if self._cache.has_version(version):
                break
            await self._clock.wait(self._replaced, remaining)
        return True
