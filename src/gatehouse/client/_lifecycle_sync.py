"""What is particular to `Client`, the blocking client for threaded apps (Flask, Django, workers).

Its background worker is a daemon thread, started with the client, that follows the push stream
(or polls while it cannot) and sleeps between attempts; `close()` stops it, shutting down the
stream's socket to wake a blocked read. Its locks are `threading` locks, so every public method
of `Client` is safe to call from many threads, and waiting for a policy version blocks the
calling thread. The rest of `Client` is generated from `AsyncClient` (`scripts/unasync`); this
module and `_lifecycle_async.py` are the hand-written halves that differ.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

import httpx

from gatehouse.client import clock
from gatehouse.client.policies import PolicyCache

Lock = threading.Lock
CLOSE_SECONDS = 5.0  # how long `stop()` waits for the thread to end


class Clock(clock.Clock):
    def wait(self, waitable: threading.Event | threading.Condition, seconds: float) -> bool:
        """`waitable.wait(seconds)`: True once the event is set or the condition (which the
        caller holds) is notified, False when `seconds` passed first."""
        return waitable.wait(seconds)


class Worker:
    """The client's background thread (`run`), and the waits for a policy version."""

    def __init__(self, run: Callable[[], None], cache: PolicyCache, clock: Clock) -> None:
        self._cache = cache
        self._clock = clock
        self._stop = threading.Event()
        self._replaced = threading.Condition()  # notified whenever a newer policy is stored
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=run, name="gatehouse-client", daemon=True)

    def on_init(self) -> None:
        """The thread starts with the client."""
        self._thread.start()

    def on_use(self) -> None:
        """Nothing to do: the thread runs from the start."""

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or until `stop()`."""
        self._clock.wait(self._stop, seconds)

    def stream_opened(self, response: httpx.Response) -> None:
        """Keep the push stream's socket, for `stop()` to shut down."""
        network = response.extensions.get("network_stream")
        self._socket = network.get_extra_info("socket") if network else None

    def stream_closed(self) -> None:
        self._socket = None

    def stop(self) -> bool:
        """Stop the thread and wait (a while) for it to end; False if it was stopped already."""
        if self._stop.is_set():
            return False
        self._stop.set()
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading the stream
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=CLOSE_SECONDS)
        return True

    def replaced(self) -> None:
        """A newer project policy was stored: wake whoever waits for a version."""
        with self._replaced:
            self._replaced.notify_all()

    def wait_for_version(self, version: int, timeout: float) -> bool:
        """Block until the cached project policy is at least `version`, or `timeout` passes."""
        deadline = self._clock.now() + timeout
        with self._replaced:
            while not self._cache.has_version(version):
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    return False
                self._clock.wait(self._replaced, remaining)
            return True
