"""What an OIDC callback must refuse when the provider's answer is wrong, through the official
`stytch` SDK against a real server. The provider here is a small hostile one on loopback (its
discovery document, JWKS, token and userinfo endpoints answer whatever a test sets up next), so
each test can hand Gatehouse one defect a real provider never produces: an expired ID token, one
for another audience or client, another sign-in's nonce, an unsigned or HMAC "signed" token, a
token signed by a key the JWKS does not hold, a userinfo answer about someone else. Every refusal
is a 401 `invalid_oidc_response` that changes nothing, and leaves the sign-in's state unspent so
the real answer still completes it; a spent or expired state is refused.

The happy path against a real provider (`oidc-provider`) is in test_sso_oidc.py.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import update

from gatehouse.services import clock
from gatehouse.storage.sql import tables
from tests.databases import throwaway_database
from tests.sdk.support import email, refused_callback, register_redirect_url, unique
from tests.server import RunningServer, running_server

LOGIN_URL = "https://app.example.test/oidc/login"
CLIENT_ID = "gatehouse-client"
CLIENT_SECRET = "a-client-secret-the-provider-issued"

Claims = dict[str, Any]


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Provider:
    """A scriptable OpenID Provider: `answer` builds the token endpoint's answer from the ID
    token's good claims (the test's tweaks applied by `sign`), `userinfo` is the userinfo
    endpoint's answer, `jwks_status` the JWKS endpoint's status."""

    issuer: str = ""
    key: rsa.RSAPrivateKey = field(default_factory=_key)
    kid: str = field(default_factory=lambda: str(uuid.uuid4()))
    answer: Callable[[], tuple[int, Any]] = lambda: (500, {})
    by_code: dict[str, tuple[int, Any]] = field(default_factory=dict)  # answers for given codes
    userinfo: Claims | None = None
    jwks_status: int = 200
    redeemed: list[dict[str, str]] = field(default_factory=list)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def sign(self, claims: Claims, *, key: Any = None, algorithm: str = "RS256") -> str:
        return jwt.encode(claims, key or self.key, algorithm=algorithm, headers={"kid": self.kid})


def _serve(provider: Provider) -> http.server.HTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                self._send(
                    200,
                    {
                        "issuer": provider.issuer,
                        "authorization_endpoint": provider.issuer + "/authorize",
                        "token_endpoint": provider.issuer + "/token",
                        "userinfo_endpoint": provider.issuer + "/userinfo",
                        "jwks_uri": provider.issuer + "/jwks",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    },
                )
            elif path == "/jwks":
                self._send(provider.jwks_status, provider.jwks())
            elif path == "/userinfo":
                self._send(200, provider.userinfo or {})
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            form["authorization"] = self.headers.get("Authorization") or ""
            provider.redeemed.append(form)
            self._send(*(provider.by_code.get(form.get("code", "")) or provider.answer()))

        def log_message(self, *args: Any) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    provider = Provider()
    server = _serve(provider)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class SignIn:
    """One started sign-in: its callback URL (the provider's redirect back, with a code) and the
    nonce Gatehouse sent."""

    callback: str
    nonce: str
    address: str


class Harness:
    def __init__(self, server: RunningServer, provider: Provider) -> None:
        self.server = server
        self.provider = provider
        self.client = server.b2b_client()
        org_name = unique("Org")
        self.org = self.client.organizations.create(
            organization_name=org_name, organization_slug=org_name.lower()
        ).organization
        created = self.client.sso.oidc.create_connection(
            organization_id=self.org.organization_id, display_name="Hostile OP"
        ).connection
        self.connection = self.client.sso.oidc.update_connection(
            organization_id=self.org.organization_id,
            connection_id=created.connection_id,
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        ).connection
        assert self.connection.status == "active"
        assert self.connection.token_url == provider.issuer + "/token"

    def start(self, code: str = "a-code", address: str | None = None) -> SignIn:
        response = httpx.get(
            self.server.url + "/v1/public/sso/start",
            params={"connection_id": self.connection.connection_id},
            follow_redirects=False,
        )
        assert response.status_code == 302, response.text
        authorize = urlsplit(response.headers["location"])
        assert f"{authorize.scheme}://{authorize.netloc}" == self.provider.issuer
        query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
        callback = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
        return SignIn(callback, query["nonce"], address or email())

    def claims(self, sign_in: SignIn) -> Claims:
        """The ID token's claims a correct provider would send for `sign_in`."""
        now = int(time.time())
        return {
            "iss": self.provider.issuer,
            "aud": CLIENT_ID,
            "sub": "subject-" + sign_in.address,
            "iat": now,
            "exp": now + 300,
            "nonce": sign_in.nonce,
            "email": sign_in.address,
            "email_verified": True,
            "name": "Grace Hopper",
        }

    def answer_with(self, id_token: str | None, **extra: Any) -> None:
        body = {"access_token": "an-access-token", "token_type": "Bearer", **extra}
        if id_token is not None:
            body["id_token"] = id_token
        self.provider.answer = lambda: (200, body)

    def correct(self, sign_in: SignIn) -> None:
        claims = self.claims(sign_in)
        self.provider.userinfo = {"sub": claims["sub"], "email": sign_in.address}
        self.provider.jwks_status = 200
        self.answer_with(self.provider.sign(claims))

    def callback(self, url: str) -> httpx.Response:
        return httpx.get(url, follow_redirects=False)

    def refused(self, url: str, status: int, error_type: str) -> str:
        """The callback at `url` is refused with nothing changed: its error message."""
        return refused_callback(self.server, url, status, error_type)

    def completes(self, sign_in: SignIn) -> Any:
        """With the provider answering correctly, `sign_in` completes: the authenticated member."""
        self.correct(sign_in)
        response = self.callback(sign_in.callback)
        assert response.status_code == 303, response.text
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == LOGIN_URL
        token = parse_qs(location.query)["token"][0]
        return self.client.sso.authenticate(sso_token=token)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[Harness]:
    with (
        throwaway_database(tmp_path_factory.mktemp("db")) as url,
        running_server(url) as server,
    ):
        register_redirect_url(server, LOGIN_URL, ["LOGIN", "SIGNUP"])
        yield Harness(server, provider)


def test_a_correct_answer_signs_in_with_the_connections_client_credentials(
    harness: Harness,
) -> None:
    sign_in = harness.start()
    authenticated = harness.completes(sign_in)
    assert authenticated.member.email_address == sign_in.address
    factors = authenticated.member_session.authentication_factors
    assert [(f.type, f.delivery_method) for f in factors] == [("sso", "sso_oidc")]
    redeemed = harness.provider.redeemed[-1]
    assert redeemed["grant_type"] == "authorization_code" and redeemed["code"] == "a-code"
    assert redeemed["code_verifier"]  # PKCE between Gatehouse and the provider
    credentials = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert redeemed["authorization"] == f"Basic {credentials}"


def _expired(claims: Claims) -> Claims:
    return {**claims, "iat": claims["iat"] - 3600, "exp": claims["iat"] - 120}


# Each: how the ID token's claims are spoiled, and the refusal's reason. A leeway of 30 s is
# allowed on the times, so the spoiled times are well beyond it.
SPOILED_CLAIMS: dict[str, tuple[Callable[[Claims], Claims], str]] = {
    "expired": (_expired, "the ID token has expired"),
    "issued in the future": (
        lambda c: {**c, "iat": c["iat"] + 3600, "exp": c["exp"] + 3600},
        "the ID token does not verify",
    ),
    "not valid yet": (lambda c: {**c, "nbf": c["iat"] + 3600}, "the ID token does not verify"),
    "another audience": (lambda c: {**c, "aud": "another-client"}, "for another audience"),
    "several audiences without azp": (
        lambda c: {**c, "aud": [CLIENT_ID, "another-client"]},
        "issued to another client (`azp`)",
    ),
    "azp of another client": (
        lambda c: {**c, "azp": "another-client"},
        "issued to another client (`azp`)",
    ),
    "another sign-in's nonce": (
        lambda c: {**c, "nonce": "not-this-sign-ins-nonce"},
        "nonce is not this sign-in's",
    ),
    "no nonce": (
        lambda c: {k: v for k, v in c.items() if k != "nonce"},
        "nonce is not this sign-in's",
    ),
    "another issuer": (lambda c: {**c, "iss": "https://evil.example"}, "from another issuer"),
    "no subject": (
        lambda c: {k: v for k, v in c.items() if k != "sub"},
        "the ID token does not verify",
    ),
    "no expiry": (
        lambda c: {k: v for k, v in c.items() if k != "exp"},
        "the ID token does not verify",
    ),
    "an unverified email": (
        lambda c: {**c, "email_verified": False},
        "the email address is not verified",
    ),
}


@pytest.mark.parametrize("spoil", list(SPOILED_CLAIMS))
def test_an_id_token_with_spoiled_claims_is_refused_and_the_state_stays_usable(
    harness: Harness, spoil: str
) -> None:
    change, reason = SPOILED_CLAIMS[spoil]
    sign_in = harness.start()
    claims = change(harness.claims(sign_in))
    harness.provider.userinfo = {"sub": claims.get("sub"), "email": sign_in.address}
    harness.answer_with(harness.provider.sign(claims))
    message = harness.refused(sign_in.callback, 401, "invalid_oidc_response")
    assert message.startswith("OIDC sign-in failed: ")
    assert reason in message
    assert harness.completes(sign_in).member.email_address == sign_in.address


def _unsigned(claims: Claims) -> str:
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_forged_signatures_are_refused(harness: Harness) -> None:
    provider = harness.provider
    sign_in = harness.start()
    claims = harness.claims(sign_in)
    provider.userinfo = {"sub": claims["sub"]}
    forgeries = {
        "the ID token's algorithm `none` is not accepted": _unsigned(claims),
        # The classic confusion: "signed" with the client secret, which the attacker may know.
        "the ID token's algorithm `HS256` is not accepted": provider.sign(
            claims, key=CLIENT_SECRET, algorithm="HS256"
        ),
        # Signed by another key under the JWKS key's `kid`.
        "the ID token's signature does not verify": provider.sign(claims, key=_key()),
        "the ID token is not a JWT": "not-a-jwt",
    }
    for reason, id_token in forgeries.items():
        harness.answer_with(id_token)
        assert reason in harness.refused(sign_in.callback, 401, "invalid_oidc_response")
    assert harness.completes(sign_in).member.email_address == sign_in.address


def test_a_broken_token_endpoint_jwks_or_userinfo_is_refused(harness: Harness) -> None:
    provider = harness.provider
    sign_in = harness.start()
    claims = harness.claims(sign_in)
    good = provider.sign(claims)

    def refused_because(reason: str) -> None:
        assert reason in harness.refused(sign_in.callback, 401, "invalid_oidc_response")

    provider.answer = lambda: (400, {"error": "invalid_grant"})
    refused_because("the token endpoint refused the code (invalid_grant)")
    harness.answer_with(None)
    refused_because("the token endpoint answered no `id_token`")
    provider.answer = lambda: (200, ["not", "an", "object"])
    refused_because("the token endpoint refused the code")

    harness.answer_with(good)
    provider.jwks_status = 500
    refused_because("the provider's JWKS could not be read")
    provider.jwks_status = 200

    provider.userinfo = {"sub": "someone-else", "email": "someone@else.example"}
    refused_because("the userinfo endpoint answered about another subject")
    provider.userinfo = {"sub": claims["sub"], "email_verified": False}
    refused_because("the email address is not verified")

    assert harness.completes(sign_in).member.email_address == sign_in.address


def test_a_spent_or_expired_state_is_refused(harness: Harness) -> None:
    sign_in = harness.start()
    harness.completes(sign_in)
    # Replayed: the state was spent by the sign-in.
    assert "already used" in harness.refused(sign_in.callback, 400, "invalid_oidc_state")

    late = harness.start()
    with harness.server.store.engine.begin() as conn:
        conn.execute(
            update(tables.oidc_requests)
            .where(tables.oidc_requests.c.used_at.is_(None))
            .values(expires_at=clock.now().replace(year=2000))
        )
    harness.correct(late)
    assert "has expired" in harness.refused(late.callback, 400, "invalid_oidc_state")

    forged = late.callback.replace("state=", "state=x")
    assert "start the sign-in again" in harness.refused(forged, 400, "invalid_oidc_state")


def test_a_provider_error_is_refused(harness: Harness) -> None:
    sign_in = harness.start()
    denied = sign_in.callback.replace("code=a-code", "error=access_denied")
    message = harness.refused(denied, 401, "invalid_oidc_response")
    assert "the provider answered `access_denied`" in message
    assert harness.completes(sign_in).member.email_address == sign_in.address


def _race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """The calls made at once, from as many threads, released together."""
    barrier = threading.Barrier(len(calls))

    def go(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def _members_with(harness: Harness, address: str) -> list[Any]:
    query = {
        "operator": "AND",
        "operands": [{"filter_name": "member_emails", "filter_value": [address]}],
    }
    found = harness.client.organizations.members.search(
        organization_ids=[harness.org.organization_id], query=query
    )
    return list(found.members)


def test_callbacks_racing_on_one_state_sign_in_once(harness: Harness) -> None:
    sign_in = harness.start()
    harness.correct(sign_in)
    responses = _race([lambda: harness.callback(sign_in.callback)] * 4)
    assert sorted(r.status_code for r in responses) == [303, 400, 400, 400], [
        r.text for r in responses
    ]
    assert {r.json()["error_type"] for r in responses if r.status_code == 400} == {
        "invalid_oidc_state"
    }
    assert len(_members_with(harness, sign_in.address)) == 1


def test_two_first_sign_ins_of_one_person_racing_make_one_member(harness: Harness) -> None:
    """Two tabs sign the same new person in at once: both sign in, as one member with one
    registration (on PostgreSQL the second insert waits for the first and then conflicts)."""
    address = email()
    sign_ins = [harness.start(code=f"race-{i}-{address}", address=address) for i in range(2)]
    for i, sign_in in enumerate(sign_ins):
        # No access token: the userinfo endpoint (one answer for everyone) is not read.
        id_token = harness.provider.sign(harness.claims(sign_in))
        harness.provider.by_code[f"race-{i}-{address}"] = (200, {"id_token": id_token})
    responses = _race([lambda s=s: harness.callback(s.callback) for s in sign_ins])
    # The loser of the race to create the member runs its transaction again and finds it.
    assert [r.status_code for r in responses] == [303, 303], [r.text for r in responses]
    signed_in = set()
    for response in responses:
        token = parse_qs(urlsplit(response.headers["location"]).query)["token"][0]
        signed_in.add(harness.client.sso.authenticate(sso_token=token).member.member_id)
    [member] = _members_with(harness, address)
    assert signed_in == {member.member_id}
    assert len(member.sso_registrations) == 1
