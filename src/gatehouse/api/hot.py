"""The hot endpoints below Starlette's routing and middleware: `POST /v1/b2b/sessions/authenticate`
and `POST /v1/b2b/gatehouse/authorize`, the calls apps make per request of their own
(docs/PERFORMANCE.md, "Where the HTTP time goes").

`GatehouseApp` (api/app.py) hands a request of exactly one of those method and path pairs to
`HotPath`, which answers it only when it can vouch for the whole answer: a body of the common
shape (read by a fixed-shape reader, accepting only what the route's model accepts and reading
it to the same values), HTTP basic auth this node already verified, and a session it holds in
memory. Anything else — a malformed or unusual body, an unknown secret, a cold session, a
`session_duration_minutes`, session headers, an oversized body — is handed to the ordinary
Starlette stack with the body replayed exactly as it arrived, before anything was decided or
counted, so every refusal is the ordinary one (same status, same error JSON), by construction.

Once the decision is made (and counted in the metrics), the request is not handed on: a refusal
from then on (a denied check, a tenancy error) is answered by the same error handler Starlette
would call, and an unexpected exception as the server error middleware would answer it.

What the middleware does on these paths is done here too: the request histogram and the access
log (`observability.Observe`, with the route template as the label), the request id (made once,
kept in the scope where the error handlers and the log read it). The response is the same bytes
and headers as the route's: `content-length` then `content-type: application/json`, sent as one
`http.response.start` and one `http.response.body` (the protocol writes them as one segment,
api/protocol.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from gatehouse.api import errors, observability, wire
from gatehouse.api.auth import basic_credentials
from gatehouse.api.gatehouse_schemas import MAX_BATCH_BYTES, MAX_CHECKS
from gatehouse.api.observability import REQUEST_ID
from gatehouse.api.parsing import _DECODER, MAX_BODY_BYTES
from gatehouse.api.routes import b2b_sessions
from gatehouse.errors import GatehouseError
from gatehouse.services.b2b.checks import CheckItem
from gatehouse.services.ids import request_id
from gatehouse.services.wiring import Gatehouse

AUTHENTICATE = "/v1/b2b/sessions/authenticate"
AUTHORIZE = "/v1/b2b/gatehouse/authorize"

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADERS_JSON = b"application/json"
_SESSION_HEADERS = (b"x-stytch-member-session", b"x-stytch-member-sessionjwt")
_TOKEN_MAX = 8192  # schemas.Token
_IDENT_MAX = 256  # schemas.Ident
_CHECK_TEXT_MAX = 128  # schemas.AuthorizationCheck.resource_id / action
_CHECK_KEYS = frozenset(("organization_id", "resource_id", "action"))


class _Unsure(Exception):
    """The hot path cannot vouch for this request: the ordinary stack answers it."""


def _text(value: Any, longest: int) -> bool:
    return type(value) is str and 0 < len(value) <= longest


def authenticate_body(raw: bytes) -> tuple[str | None, str | None, dict[str, str] | None]:
    """(session_token, session_jwt, authorization_check) of a body `SessionAuthenticate` would
    accept with exactly these values, or `_Unsure`. Accepted: a JSON object holding exactly one
    of `session_token` / `session_jwt` (1 to 8,192 characters) and optionally an
    `authorization_check` of exactly `organization_id` (1–256), `resource_id` and `action`
    (1–128), all strings. A body with any escape (a backslash: `\\u` is the only way to a NUL or
    a lone surrogate, and one byte is found by memchr, ~10× faster than two), any other field,
    or any other type is left to the ordinary reading."""
    if b"\\" in raw:
        raise _Unsure
    try:
        data = _DECODER.decode(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Unsure from None
    if type(data) is not dict or not 0 < len(data) <= 2:
        raise _Unsure
    token = data.pop("session_token", None)
    jwt = data.pop("session_jwt", None)
    check = data.pop("authorization_check", None)
    if data or (token is None) == (jwt is None):
        raise _Unsure
    if not _text(token if jwt is None else jwt, _TOKEN_MAX):
        raise _Unsure
    if check is not None:
        if (
            type(check) is not dict
            or check.keys() != _CHECK_KEYS
            or not _text(check["organization_id"], _IDENT_MAX)
            or not _text(check["resource_id"], _CHECK_TEXT_MAX)
            or not _text(check["action"], _CHECK_TEXT_MAX)
        ):
            raise _Unsure
        # The model's dump orders the fields as declared; the services read them by name.
        check = {
            "organization_id": check["organization_id"],
            "resource_id": check["resource_id"],
            "action": check["action"],
        }
    return token, jwt, check


# The batch body as `gatehouse_schemas._FastBatchAuthorize` takes it (strict types, unknown
# fields refused, each check exactly its two fields, the same lengths), read by msgspec in one
# pass into the same plain values: ~2.5× faster than pydantic's JSON reader on 1,000 checks. An
# explicit null, a true `explain`, or anything else it refuses goes to the ordinary reading.
_CheckText = Annotated[str, msgspec.Meta(min_length=1, max_length=_CHECK_TEXT_MAX)]
_Token = Annotated[str, msgspec.Meta(min_length=1, max_length=_TOKEN_MAX)]


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    organization_id: Annotated[str, msgspec.Meta(min_length=1, max_length=_IDENT_MAX)]
    checks: Annotated[
        list[
            Annotated[
                dict[Literal["resource_id", "action"], _CheckText], msgspec.Meta(min_length=2)
            ]
        ],
        msgspec.Meta(min_length=1, max_length=MAX_CHECKS),
    ]
    session_token: _Token | msgspec.UnsetType = msgspec.UNSET
    session_jwt: _Token | msgspec.UnsetType = msgspec.UNSET
    explain: Literal[False] = False


_BATCH = msgspec.json.Decoder(_Batch)
_ENCODE = msgspec.json.encode


def authorize_body(raw: bytes) -> tuple[str | None, str | None, str, list[CheckItem]]:
    """(session_token, session_jwt, organization_id, checks) of a batch body `parse_batch` would
    accept with these values and no explanations, or `_Unsure` (then `parse_batch` itself,
    behind the ordinary stack, reads it again and says what is wrong). A body with any escape is
    left to the ordinary reading, as in `authenticate_body`."""
    if not raw or b"\\" in raw or len(raw) > MAX_BATCH_BYTES:
        raise _Unsure
    try:
        body = _BATCH.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError, RecursionError):
        raise _Unsure from None
    token = None if body.session_token is msgspec.UNSET else body.session_token
    jwt = None if body.session_jwt is msgspec.UNSET else body.session_jwt
    if (token is None) == (jwt is None):
        raise _Unsure
    return token, jwt, body.organization_id, body.checks  # type: ignore[return-value]


class HotPath:
    """The two hot endpoints for `GatehouseApp`; `fallback` is the ordinary Starlette stack."""

    def __init__(self, gatehouse: Gatehouse, routes: list[BaseRoute], fallback: ASGIApp) -> None:
        self.gatehouse = gatehouse
        self.fallback = fallback
        # The histogram's labels and the access log of the middleware, with its settings.
        self.observe = observability.Observe(fallback, gatehouse.settings)
        by_path = {
            r.path: r for r in routes if isinstance(r, Route) and "POST" in (r.methods or ())
        }
        self.routes = {AUTHENTICATE: by_path[AUTHENTICATE], AUTHORIZE: by_path[AUTHORIZE]}
        self.handlers: dict[str, Callable[[Scope, Any, bytes], bytes]] = {
            AUTHENTICATE: self._authenticate,
            AUTHORIZE: self._authorize,
        }
        self.limits = {AUTHENTICATE: MAX_BODY_BYTES, AUTHORIZE: MAX_BATCH_BYTES}

    def handles(self, scope: Scope) -> bool:
        return scope["method"] == "POST" and scope["path"] in self.handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        start = time.perf_counter()
        headers = _request_headers(scope)
        if headers is None:
            await self.fallback(scope, receive, send)
            return
        authorization, content_type, declared = headers
        limit = self.limits[path]
        if declared is None or declared > limit or (content_type and b"json" not in content_type):
            await self.fallback(scope, receive, send)
            return
        messages: list[Message] = []
        raw = await _read(receive, messages, declared)
        caller = None if raw is None else self._caller(authorization)
        if raw is None or caller is None:
            await self.fallback(scope, _replay(messages, receive), send)
            return
        try:
            body = self.handlers[path](scope, caller, raw)
        except _Unsure:
            await self.fallback(scope, _replay(messages, receive), send)
            return
        except GatehouseError as error:
            await self._refuse(scope, receive, send, start, error)
            return
        except Exception as error:
            # As `ServerErrorMiddleware`: answer 500, then raise on for the server's log.
            await self._crash(scope, receive, send, start, error)
            raise
        scope["route"] = self.routes[path]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", b"%d" % len(body)),
                    (b"content-type", _HEADERS_JSON),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.observe._done(scope, 200, time.perf_counter() - start)

    def _caller(self, authorization: bytes | None) -> Any:
        if authorization is None:
            return None
        try:
            header = authorization.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            return None
        found = basic_credentials(header)
        if found is None or not header.lower().startswith("basic "):
            return None
        return self.gatehouse.callers.warm(found[0], found[1], None, None)

    def _authenticate(self, scope: Scope, caller: Any, raw: bytes) -> bytes:
        token, jwt, check = authenticate_body(raw)
        warm = self.gatehouse.sessions.authenticate_warm(caller, token, jwt, check)
        if warm is None:
            raise _Unsure  # nothing decided yet: `authenticate_warm` checks only once warm
        entry, decision = warm
        # From here on the decision is made (and counted): refusals are answered here.
        verdict = b2b_sessions._verdict(decision, check)
        fragment = wire.session_fragment(entry)
        head = {"status_code": 200, "request_id": _request_id(scope), "session_token": token or ""}
        encoded = _ENCODER.encode({**head, **verdict}).encode()
        return encoded[:-1] + b"," + fragment + b"}"

    def _authorize(self, scope: Scope, caller: Any, raw: bytes) -> bytes:
        token, jwt, organization_id, checks = authorize_body(raw)
        verdict = self.gatehouse.checks.batch_warm(
            caller.environment, token, jwt, organization_id, checks, False
        )
        if verdict is None:
            raise _Unsure
        active = verdict.active
        head = _ENCODER.encode(
            {
                "status_code": 200,
                "request_id": _request_id(scope),
                "member_id": active.member_id,
                "organization_id": active.organization_id,
                "policy_version": verdict.policy_version,
            }
        ).encode()
        return head[:-1] + b',"results":' + _results(verdict.results) + b"}"

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, start: float, error: GatehouseError
    ) -> None:
        """A refusal after the decision: the exception handler Starlette would call
        (api/errors.py), inside the request metrics as the middleware would see it."""
        scope["route"] = self.routes[scope["path"]]
        response = await errors.gatehouse_error(Request(scope, receive), error)
        await response(scope, receive, send)
        self.observe._done(scope, response.status_code, time.perf_counter() - start)

    async def _crash(
        self, scope: Scope, receive: Receive, send: Send, start: float, error: Exception
    ) -> None:
        """What `ServerErrorMiddleware` does with an unhandled exception, after the request
        metrics saw a 500 (the access log line names the request id the response carries)."""
        scope["route"] = self.routes[scope["path"]]
        self.observe._done(scope, 500, time.perf_counter() - start)
        response = await errors.unexpected_error(Request(scope, receive), error)
        await response(scope, receive, send)


def _request_id(scope: Scope) -> str:
    rid = scope.get(REQUEST_ID)
    if rid is None:
        rid = scope[REQUEST_ID] = request_id()
    return str(rid)


def _request_headers(scope: Scope) -> tuple[bytes | None, bytes, int | None] | None:
    """(authorization, content-type, content-length) as the ordinary stack reads them (the first
    of each), or None when a session header is present (the ordinary caller resolution)."""
    authorization = content_type = length = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value
        elif name == b"content-type":
            if content_type is None:
                content_type = value
        elif name == b"content-length":
            if length is None:
                length = value
        elif name in _SESSION_HEADERS:
            return None
    declared = int(length) if length is not None and length.strip().isdigit() else None
    return authorization, content_type or b"", declared


async def _read(receive: Receive, messages: list[Message], declared: int) -> bytes | None:
    """The whole body when it is exactly the `declared` length; None otherwise (a disconnect, or
    a body longer or shorter than declared). Every message received is kept in `messages`."""
    size = 0
    chunks = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > declared:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size != declared:
        return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`receive` as the ordinary stack would have seen it: the messages already read, then on."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _results(results: list[bool]) -> bytes:
    """`[true,false,...]`, as the standard library writes it (msgspec: ~10× faster)."""
    return _ENCODE(results)


# Starlette's JSONResponse encoding (api/auth.py `ok`), built once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
