"""`AsyncClient`: session JWTs verified and authorization checked in the app's process, on a
policy cached and kept fresh by a background worker (`gatehouse.client` and docs/CLIENT.md say
how fresh).

The two clients' shared logic is written once, in `asynchronous.py`: `scripts/unasync` generates
`sync.py` from it, and `scripts/unasync --check` fails when the two are not in step. What
differs, the background worker (a thread or a task), the locks and waiting for a policy version,
is hand-written in `_lifecycle_async.py`, which also says which apps this client is for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import httpx

from gatehouse.client import _lifecycle_async as lifecycle
from gatehouse.client import push, wire
from gatehouse.client.errors import GatehouseClientError, InvalidSessionJWT, TenancyError
from gatehouse.client.jwks import VerifiedSession, Verifier, keys_from_jwks, kid_of
from gatehouse.client.policies import PolicyCache, ProjectPolicy
from gatehouse.policy import CompiledPolicy, Decision

log = logging.getLogger("gatehouse.client")

_ORG_LOCKS = 64  # organization fetches are single-flight per stripe, not per client


class AsyncClient:
    # Where the client reads the time and how its worker waits. The constructor's parameters are
    # the public API, so a test that fakes time sets this on a subclass instead.
    _clock = lifecycle.Clock()

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
        """`issuer`: the JWTs' `iss`, the server's public URL (default: `base_url`), for when
        the app reaches the server by another address. `http`: an `httpx.AsyncClient` to send
        requests with (proxies, TLS settings); it is not closed by `aclose()`."""
        self._settings = wire.settings(
            project_id, secret, base_url, issuer, push, poll_seconds, timeout, leeway_seconds
        )
        self._http = http if http is not None else wire.async_http(timeout)
        self._owns_http = http is None
        clock = self._clock
        self._verifier = Verifier(
            project_id, self._settings.issuer, leeway_seconds, now=clock.now, wall=clock.wall
        )
        self._cache = PolicyCache(poll_seconds, now=clock.now)
        self._jwks_lock = lifecycle.Lock()
        self._project_lock = lifecycle.Lock()
        self._org_locks = [lifecycle.Lock() for _ in range(_ORG_LOCKS)]
        self._worker = lifecycle.Worker(self._run, self._cache, clock)
        self._worker.on_init()

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the background worker and release connections; idempotent."""
        if await self._worker.stop() and self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        self._worker.on_use()
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
        self._worker.on_use()
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
        """May the session's member do `action` on `resource_id` in `organization_id`?"""
        verified, compiled = await self._policy_for(session, organization_id)
        return compiled.check(verified.roles, resource_id, action)

    async def authorize(
        self, session: str | VerifiedSession, organization_id: str, resource_id: str, action: str
    ) -> Decision:
        """Like `is_authorized`, with the granting roles and the reason."""
        verified, compiled = await self._policy_for(session, organization_id)
        return compiled.authorize(verified.roles, resource_id, action)

    async def check_batch(
        self,
        session: str | VerifiedSession,
        organization_id: str,
        checks: Iterable[tuple[str, str]],
    ) -> list[bool]:
        """One verdict per (resource_id, action), in order."""
        verified, compiled = await self._policy_for(session, organization_id)
        allowed = compiled.checker(verified.roles)  # the role set is looked up once
        return [allowed(resource_id, action) for resource_id, action in checks]

    async def permissions(
        self, session: str | VerifiedSession, organization_id: str
    ) -> dict[str, frozenset[str]]:
        """What the member may do in the organization: resource_id -> actions (`*` expanded to
        the resource's declared actions)."""
        verified, compiled = await self._policy_for(session, organization_id)
        return compiled.permissions(verified.roles)

    async def _policy_for(
        self, session: str | VerifiedSession, organization_id: str
    ) -> tuple[VerifiedSession, CompiledPolicy]:
        self._worker.on_use()
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
            self._worker.replaced()

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
        """The server's verdicts (`POST /v1/b2b/gatehouse/authorize`), with the member's roles
        as they are now rather than as the JWT says."""
        pairs = list(checks)
        results: list[bool] = []
        for start in range(0, len(pairs), wire.MAX_BATCH):
            chunk = pairs[start : start + wire.MAX_BATCH]
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
        """The version of the cached project policy; None before the first fetch."""
        return self._cache.version

    async def wait_for_policy_version(self, version: int, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until the cached policy is at least `version`."""
        self._worker.on_use()
        return await self._worker.wait_for_version(version, timeout)

    async def _run(self) -> None:
        """The background worker: follow the push stream, poll while it is down (or off)."""
        settings, worker, now = self._settings, self._worker, self._clock.now
        backoff = push.Backoff()
        next_connect = next_poll = now()
        while not worker.stopped:
            if settings.push and now() >= next_connect:
                if await self._follow():
                    backoff.reset()
                    # The stream kept the cache current until it ended.
                    next_poll = now() + settings.poll_seconds
                next_connect = now() + backoff.delay()
            if worker.stopped:
                break
            if now() >= next_poll:
                try:
                    await self._refresh_project()
                except GatehouseClientError as error:
                    log.warning("gatehouse: polling the policy failed: %s", error)
                except Exception:  # a bug here must not end freshness for the process
                    log.exception("gatehouse: polling the policy failed")
                next_poll = now() + settings.poll_seconds
            deadline = min(next_poll, next_connect) if settings.push else next_poll
            await worker.sleep(max(0.0, deadline - now()))

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
                self._worker.stream_opened(response)
                if self._worker.stopped:
                    return ready
                async for line in response.aiter_lines():
                    event = decoder.line(line)
                    if event is None:
                        continue
                    ready = ready or event.name == "ready"
                    if push.apply(self._cache, event):
                        # A failure ends the stream: the reconnect resynchronises.
                        await self._refresh_project()
                    if self._worker.stopped:
                        break
        except (httpx.HTTPError, GatehouseClientError, OSError) as error:
            if not self._worker.stopped:
                log.info("gatehouse: the push stream ended: %s", error)
        except Exception:  # a bug here must not end freshness for the process: reconnect
            log.exception("gatehouse: the push stream failed")
        finally:
            self._worker.stream_closed()
            self._cache.stream_lost()
        return ready
