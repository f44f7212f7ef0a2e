"""`Client`: the blocking Gatehouse client, for threaded apps (Flask, Django, workers).

Local checks cost a dict lookup or two once warm: the session JWT is verified in-process (and
remembered), and the policy is compiled in-process from the server's, kept fresh by a background
daemon thread that follows the push stream, or polls while it cannot. Every public method is
safe to call from many threads.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx

from gatehouse.client import push, wire
from gatehouse.client.errors import GatehouseClientError, InvalidSessionJWT, TenancyError
from gatehouse.client.jwks import VerifiedSession, Verifier, keys_from_jwks, kid_of
from gatehouse.client.policies import PolicyCache, ProjectPolicy
from gatehouse.policy import CompiledPolicy, Decision

log = logging.getLogger("gatehouse.client")

MAX_BATCH = 10_000  # the server's limit per request; longer lists go in several
_ORG_LOCKS = 64  # organization fetches are single-flight per stripe, not per client
_CLOSE_SECONDS = 5.0


class Client:
    def __init__(
        self,
        project_id: str,
        secret: str,
        base_url: str = "http://127.0.0.1:8080",
        *,
        push: bool = True,
        poll_seconds: float = 30.0,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        issuer: str | None = None,
        leeway_seconds: float = 0.0,
    ) -> None:
        """`issuer`: the JWTs' `iss`, the server's public URL (default: `base_url`), for when
        the app reaches the server by another address. `http`: an `httpx.Client` to send
        requests with (proxies, TLS settings); it is not closed by `close()`."""
        self._settings = wire.settings(
            project_id, secret, base_url, issuer, push, poll_seconds, timeout, leeway_seconds
        )
        self._http = http if http is not None else wire.sync_http(timeout)
        self._owns_http = http is None
        self._verifier = Verifier(project_id, self._settings.issuer, leeway_seconds)
        self._cache = PolicyCache(poll_seconds)
        self._jwks_lock = threading.Lock()
        self._project_lock = threading.Lock()
        self._org_locks = [threading.Lock() for _ in range(_ORG_LOCKS)]
        self._stop = threading.Event()
        self._stream_socket: socket.socket | None = None
        self._worker = threading.Thread(target=self._run, name="gatehouse-client", daemon=True)
        self._worker.start()

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the background thread and release connections; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        sock = self._stream_socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading the stream
        if self._worker is not threading.current_thread():
            self._worker.join(timeout=_CLOSE_SECONDS)
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- sessions ------------------------------------------------------------------------------

    def verify_jwt(
        self, session_jwt: str, *, max_token_age_seconds: float | None = None
    ) -> VerifiedSession:
        """The session a JWT proves, verified locally; `InvalidSessionJWT` if it proves none."""
        if not isinstance(session_jwt, str) or not session_jwt:
            raise InvalidSessionJWT("pass the session jwt as a non-empty string")
        known = self._verifier.remembered(session_jwt, max_token_age_seconds)
        if known is not None:
            return known
        kid = kid_of(session_jwt)
        if self._verifier.key(kid) is None:
            self._fetch_keys(kid)
        return self._verifier.verify(session_jwt, kid, max_token_age_seconds)

    def _fetch_keys(self, kid: str) -> None:
        with self._jwks_lock:
            if not self._verifier.may_fetch(kid):
                return
            self._verifier.fetching()
            body = self._get(wire.jwks_path(self._settings.project_id), "fetch the jwks", False)
            self._verifier.set_keys(keys_from_jwks(body))

    # -- local checks --------------------------------------------------------------------------

    def is_authorized(
        self, session: str | VerifiedSession, organization_id: str, resource_id: str, action: str
    ) -> bool:
        """May the session's member do `action` on `resource_id` in `organization_id`?"""
        verified, compiled = self._policy_for(session, organization_id)
        return compiled.check(verified.roles, resource_id, action)

    def authorize(
        self, session: str | VerifiedSession, organization_id: str, resource_id: str, action: str
    ) -> Decision:
        """Like `is_authorized`, with the granting roles and the reason."""
        verified, compiled = self._policy_for(session, organization_id)
        return compiled.authorize(verified.roles, resource_id, action)

    def check_batch(
        self,
        session: str | VerifiedSession,
        organization_id: str,
        checks: Iterable[tuple[str, str]],
    ) -> list[bool]:
        """One verdict per (resource_id, action), in order."""
        verified, compiled = self._policy_for(session, organization_id)
        allowed = compiled.checker(verified.roles)  # the role set is looked up once
        return [allowed(resource_id, action) for resource_id, action in checks]

    def permissions(
        self, session: str | VerifiedSession, organization_id: str
    ) -> dict[str, frozenset[str]]:
        """What the member may do in the organization: resource_id -> actions (`*` expanded to
        the resource's declared actions)."""
        verified, compiled = self._policy_for(session, organization_id)
        return compiled.permissions(verified.roles)

    def _policy_for(
        self, session: str | VerifiedSession, organization_id: str
    ) -> tuple[VerifiedSession, CompiledPolicy]:
        verified = session if isinstance(session, VerifiedSession) else self.verify_jwt(session)
        if verified.organization_id != organization_id:
            raise TenancyError.between(verified.organization_id, organization_id)
        project = self._cache.project or self._first_project()
        compiled = self._cache.org(organization_id, project)
        if compiled is None:
            compiled = self._fetch_org(organization_id, project)
        return verified, compiled

    def _first_project(self) -> ProjectPolicy:
        with self._project_lock:
            project = self._cache.project
            if project is None:
                self._refresh_project()
                project = self._cache.project
            assert project is not None  # the first policy stored is always kept
            return project

    def _refresh_project(self) -> None:
        body = self._get(wire.POLICY_PATH, "fetch the project policy")
        self._cache.store_project(*wire.project_policy(body))

    def _fetch_org(self, organization_id: str, project: ProjectPolicy) -> CompiledPolicy:
        with self._org_locks[hash(organization_id) % _ORG_LOCKS]:
            compiled = self._cache.org(organization_id, project)
            if compiled is not None:
                return compiled
            epoch = self._cache.epoch
            body = self._get(wire.org_policy_path(organization_id), "fetch the org policy")
            return self._cache.store_org(organization_id, wire.org_roles(body), project, epoch)

    # -- the server ----------------------------------------------------------------------------

    def remote_check_batch(
        self,
        organization_id: str,
        checks: Iterable[tuple[str, str]],
        *,
        session_jwt: str | None = None,
        session_token: str | None = None,
    ) -> list[bool]:
        """The server's verdicts (`POST /v1/b2b/gatehouse/authorize`), with the member's roles
        as they are now rather than as the JWT says."""
        pairs = list(checks)
        results: list[bool] = []
        for start in range(0, len(pairs), MAX_BATCH):
            chunk = pairs[start : start + MAX_BATCH]
            body = wire.batch_body(organization_id, chunk, session_jwt, session_token)
            try:
                response = self._http.post(
                    self._settings.url(wire.AUTHORIZE_PATH), json=body, auth=self._settings.auth
                )
            except httpx.HTTPError as error:
                raise wire.unreachable(error, "check on the server") from None
            results += wire.batch_results(wire.answer(response), len(chunk))
        return results

    def _get(self, path: str, what: str, auth: bool = True) -> dict[str, Any]:
        try:
            response = self._http.get(
                self._settings.url(path), auth=self._settings.auth if auth else None
            )
        except httpx.HTTPError as error:
            raise wire.unreachable(error, what) from None
        return wire.answer(response)

    # -- freshness -----------------------------------------------------------------------------

    @property
    def policy_version(self) -> int | None:
        """The version of the cached project policy; None before the first fetch."""
        return self._cache.version

    def wait_for_policy_version(self, version: int, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until the cached policy is at least `version`."""
        return self._cache.wait_for_version(version, timeout)

    def _run(self) -> None:
        """The background thread: follow the push stream, poll while it is down (or off)."""
        settings = self._settings
        backoff = push.Backoff()
        next_connect = next_poll = time.monotonic()
        while not self._stop.is_set():
            if settings.push and time.monotonic() >= next_connect:
                if self._follow():
                    backoff.reset()
                    # The stream kept the cache current until it ended.
                    next_poll = time.monotonic() + settings.poll_seconds
                next_connect = time.monotonic() + backoff.delay()
            if self._stop.is_set():
                break
            if time.monotonic() >= next_poll:
                try:
                    self._refresh_project()
                except GatehouseClientError as error:
                    log.warning("gatehouse: polling the policy failed: %s", error)
                except Exception:  # a bug here must not end freshness for the process
                    log.exception("gatehouse: polling the policy failed")
                next_poll = time.monotonic() + settings.poll_seconds
            deadline = min(next_poll, next_connect) if settings.push else next_poll
            self._stop.wait(max(0.0, deadline - time.monotonic()))

    def _follow(self) -> bool:
        """Read the push stream until it ends; True if it got as far as `ready`."""
        ready = False
        decoder = push.SseDecoder()
        timeout = httpx.Timeout(self._settings.timeout, read=push.READ_TIMEOUT_SECONDS)
        try:
            with self._http.stream(
                "GET",
                self._settings.url(push.CHANGES_PATH),
                auth=self._settings.auth,
                headers={"accept": "text/event-stream"},
                timeout=timeout,
            ) as response:
                if response.status_code != 200:
                    response.read()
                    wire.answer(response)  # raises the server's error
                network = response.extensions.get("network_stream")
                self._stream_socket = network.get_extra_info("socket") if network else None
                if self._stop.is_set():
                    return ready
                for line in response.iter_lines():
                    event = decoder.line(line)
                    if event is None:
                        continue
                    ready = ready or event.name == "ready"
                    if push.apply(self._cache, event):
                        self._refresh_project()  # a failure ends the stream: reconnect, resync
                    if self._stop.is_set():
                        break
        except (httpx.HTTPError, GatehouseClientError, OSError) as error:
            if not self._stop.is_set():
                log.info("gatehouse: the push stream ended: %s", error)
        except Exception:  # a bug here must not end freshness for the process: reconnect
            log.exception("gatehouse: the push stream failed")
        finally:
            self._stream_socket = None
            self._cache.stream_lost()
        return ready
