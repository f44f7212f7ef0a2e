"""`AsyncClient`: the asyncio Gatehouse client, for async apps (Starlette, FastAPI, aiohttp).

The same checks and freshness as `Client`; the push stream is followed by a task on the app's
event loop (started on first use or by `async with`), so an `AsyncClient` belongs to one loop.
Verifying a JWT and checking are CPU work of microseconds once warm and run inline; only fetches
(keys, policies) await.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx

from gatehouse.client import push, wire
from gatehouse.client.errors import GatehouseClientError, InvalidSessionJWT, TenancyError
from gatehouse.client.jwks import VerifiedSession, Verifier, keys_from_jwks, kid_of
from gatehouse.client.policies import PolicyCache, ProjectPolicy
from gatehouse.client.sync import MAX_BATCH
from gatehouse.policy import CompiledPolicy, Decision

log = logging.getLogger("gatehouse.client")

_ORG_LOCKS = 64


class AsyncClient:
    def __init__(
        self,
        project_id: str,
        secret: str,
        base_url: str = "http://127.0.0.1:8080",
        *,
        push: bool = True,
        poll_seconds: float = 30.0,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
        issuer: str | None = None,
        leeway_seconds: float = 0.0,
    ) -> None:
        """The arguments are `Client`'s; `http` is an `httpx.AsyncClient` here."""
        self._settings = wire.settings(
            project_id, secret, base_url, issuer, push, poll_seconds, timeout, leeway_seconds
        )
        self._http = http if http is not None else wire.async_http(timeout)
        self._owns_http = http is None
        self._verifier = Verifier(project_id, self._settings.issuer, leeway_seconds)
        self._cache = PolicyCache(poll_seconds)
        self._jwks_lock = asyncio.Lock()
        self._project_lock = asyncio.Lock()
        self._org_locks = [asyncio.Lock() for _ in range(_ORG_LOCKS)]
        self._replaced = asyncio.Event()  # set whenever this client stores a project policy
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._worker is None and not self._closed:
            self._worker = asyncio.get_running_loop().create_task(
                self._run(), name="gatehouse-client"
            )

    async def aclose(self) -> None:
        """Stop the background task and release connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- sessions ------------------------------------------------------------------------------

    async def verify_jwt(
        self, session_jwt: str, *, max_token_age_seconds: float | None = None
    ) -> VerifiedSession:
        """The session a JWT proves, verified locally; `InvalidSessionJWT` if it proves none."""
        self._start()
        if not isinstance(session_jwt, str) or not session_jwt:
            raise InvalidSessionJWT("pass the session jwt as a non-empty string")
        known = self._verifier.remembered(session_jwt, max_token_age_seconds)
        if known is not None:
            return known
        kid = kid_of(session_jwt)
        if self._verifier.key(kid) is None:
            await self._fetch_keys(kid)
        return self._verifier.verify(session_jwt, kid, max_token_age_seconds)

    async def _fetch_keys(self, kid: str) -> None:
        async with self._jwks_lock:
            if not self._verifier.may_fetch(kid):
                return
            self._verifier.fetching()
            path = wire.jwks_path(self._settings.project_id)
            body = await self._get(path, "fetch the jwks", False)
            self._verifier.set_keys(keys_from_jwks(body))

    # -- local checks --------------------------------------------------------------------------

    async def is_authorized(
        self, session: str | VerifiedSession, organization_id: str, resource_id: str, action: str
    ) -> bool:
        verified, compiled = await self._policy_for(session, organization_id)
        return compiled.check(verified.roles, resource_id, action)

    async def authorize(
        self, session: str | VerifiedSession, organization_id: str, resource_id: str, action: str
    ) -> Decision:
        verified, compiled = await self._policy_for(session, organization_id)
        return compiled.authorize(verified.roles, resource_id, action)

    async def check_batch(
        self,
        session: str | VerifiedSession,
        organization_id: str,
        checks: Iterable[tuple[str, str]],
    ) -> list[bool]:
        verified, compiled = await self._policy_for(session, organization_id)
        allowed = compiled.checker(verified.roles)  # the role set is looked up once
        return [allowed(resource_id, action) for resource_id, action in checks]

    async def permissions(
        self, session: str | VerifiedSession, organization_id: str
    ) -> dict[str, frozenset[str]]:
        verified, compiled = await self._policy_for(session, organization_id)
        return compiled.permissions(verified.roles)

    async def _policy_for(
        self, session: str | VerifiedSession, organization_id: str
    ) -> tuple[VerifiedSession, CompiledPolicy]:
        self._start()
        if isinstance(session, VerifiedSession):
            verified = session
        else:
            verified = await self.verify_jwt(session)
        if verified.organization_id != organization_id:
            raise TenancyError.between(verified.organization_id, organization_id)
        project = self._cache.project or await self._first_project()
        compiled = self._cache.org(organization_id, project)
        if compiled is None:
            compiled = await self._fetch_org(organization_id, project)
        return verified, compiled

    async def _first_project(self) -> ProjectPolicy:
        async with self._project_lock:
            project = self._cache.project
            if project is None:
                await self._refresh_project()
                project = self._cache.project
            assert project is not None  # the first policy stored is always kept
            return project

    async def _refresh_project(self) -> None:
        body = await self._get(wire.POLICY_PATH, "fetch the project policy")
        if self._cache.store_project(*wire.project_policy(body)):
            self._replaced.set()

    async def _fetch_org(self, organization_id: str, project: ProjectPolicy) -> CompiledPolicy:
        async with self._org_locks[hash(organization_id) % _ORG_LOCKS]:
            compiled = self._cache.org(organization_id, project)
            if compiled is not None:
                return compiled
            epoch = self._cache.epoch
            body = await self._get(wire.org_policy_path(organization_id), "fetch the org policy")
            return self._cache.store_org(organization_id, wire.org_roles(body), project, epoch)

    # -- the server ----------------------------------------------------------------------------

    async def remote_check_batch(
        self,
        organization_id: str,
        checks: Iterable[tuple[str, str]],
        *,
        session_jwt: str | None = None,
        session_token: str | None = None,
    ) -> list[bool]:
        pairs = list(checks)
        results: list[bool] = []
        for start in range(0, len(pairs), MAX_BATCH):
            chunk = pairs[start : start + MAX_BATCH]
            body = wire.batch_body(organization_id, chunk, session_jwt, session_token)
            try:
                response = await self._http.post(
                    self._settings.url(wire.AUTHORIZE_PATH), json=body, auth=self._settings.auth
                )
            except httpx.HTTPError as error:
                raise wire.unreachable(error, "check on the server") from None
            results += wire.batch_results(wire.answer(response), len(chunk))
        return results

    async def _get(self, path: str, what: str, auth: bool = True) -> dict[str, Any]:
        try:
            response = await self._http.get(
                self._settings.url(path), auth=self._settings.auth if auth else None
            )
        except httpx.HTTPError as error:
            raise wire.unreachable(error, what) from None
        return wire.answer(response)

    # -- freshness -----------------------------------------------------------------------------

    @property
    def policy_version(self) -> int | None:
        return self._cache.version

    async def wait_for_policy_version(self, version: int, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until the cached policy is at least `version`."""
        self._start()
        deadline = time.monotonic() + timeout
        while (self._cache.version or 0) < version:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._replaced.clear()
            if (self._cache.version or 0) >= version:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._replaced.wait(), remaining)
        return True

    async def _run(self) -> None:
        """The background task: follow the push stream, poll while it is down (or off)."""
        settings = self._settings
        backoff = push.Backoff()
        next_connect = next_poll = time.monotonic()
        while True:
            if settings.push and time.monotonic() >= next_connect:
                if await self._follow():
                    backoff.reset()
                    next_poll = time.monotonic() + settings.poll_seconds
                next_connect = time.monotonic() + backoff.delay()
            if time.monotonic() >= next_poll:
                try:
                    await self._refresh_project()
                except GatehouseClientError as error:
                    log.warning("gatehouse: polling the policy failed: %s", error)
                except Exception:  # a bug here must not end freshness for the process
                    log.exception("gatehouse: polling the policy failed")
                next_poll = time.monotonic() + settings.poll_seconds
            deadline = min(next_poll, next_connect) if settings.push else next_poll
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    async def _follow(self) -> bool:
        """Read the push stream until it ends; True if it got as far as `ready`."""
        ready = False
        decoder = push.SseDecoder()
        timeout = httpx.Timeout(self._settings.timeout, read=push.READ_TIMEOUT_SECONDS)
        try:
            async with self._http.stream(
                "GET",
                self._settings.url(push.CHANGES_PATH),
                auth=self._settings.auth,
                headers={"accept": "text/event-stream"},
                timeout=timeout,
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    wire.answer(response)  # raises the server's error
                async for line in response.aiter_lines():
                    event = decoder.line(line)
                    if event is None:
                        continue
                    ready = ready or event.name == "ready"
                    if push.apply(self._cache, event):
                        await self._refresh_project()  # a failure ends the stream: resync
        except (httpx.HTTPError, GatehouseClientError, OSError) as error:
            log.info("gatehouse: the push stream ended: %s", error)
        except Exception:  # a bug here must not end freshness for the process: reconnect
            log.exception("gatehouse: the push stream failed")
        finally:
            self._cache.stream_lost()
        return ready
