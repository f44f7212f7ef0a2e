"""`Client.verify_jwt`: session JWTs from a real server verified in-process, and every way a JWT
can fail to prove a session. Odd tokens are signed with the server's own key (its `SigningKeys`),
so that only the one thing under test is wrong with them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gatehouse.client import Client, InvalidSessionJWT, ServerError, VerifiedSession
from gatehouse.client import jwks as client_jwks
from gatehouse.services import clock
from gatehouse.services.security.signing import new_signing_key
from tests.client.conftest import MakeClient
from tests.client.fake_time import FakeClock
from tests.client.world import World
from tests.server import RunningServer

SESSION = "https://stytch.com/session"
JWKS = "/v1/b2b/sessions/jwks/"


def claims_of(session_jwt: str) -> dict[str, Any]:
    return jwt.decode(session_jwt, options={"verify_signature": False})  # type: ignore[no-any-return]


def signed(server: RunningServer, claims: dict[str, Any]) -> str:
    return server.gatehouse.keys.sign(server.project_id, claims)


def test_a_real_jwt_verifies_to_its_session(make_client: MakeClient, world: World) -> None:
    client, _ = make_client()
    member = world.members["editor"]
    session = client.verify_jwt(member.session_jwt)
    assert isinstance(session, VerifiedSession)
    assert session.session_id == member.member_session.member_session_id
    assert session.member_id == member.member_id
    assert session.organization_id == world.org_id
    assert session.roles == frozenset(member.member_session.roles) == {"stytch_member", "editor"}
    assert session.expires_at == member.member_session.expires_at
    assert session.claims["sub"] == member.member_id


def test_keys_are_fetched_once_and_verified_tokens_remembered(
    make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client()
    for member in world.members.values():
        for _ in range(3):
            assert client.verify_jwt(member.session_jwt).member_id == member.member_id
    assert len(recorded.paths(JWKS)) == 1


def test_max_token_age(make_client: MakeClient, world: World) -> None:
    client, _ = make_client()
    token = world.members["plain"].session_jwt
    assert client.verify_jwt(token, max_token_age_seconds=3600).member_id
    with pytest.raises(InvalidSessionJWT, match="older than"):
        client.verify_jwt(token, max_token_age_seconds=0)  # zero: every token is too old


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    "name, change, reason",
    [
        (
            "expired",
            lambda c: {**c, "iat": _now() - 600, "nbf": _now() - 600, "exp": _now() - 60},
            "expired",
        ),
        ("not yet valid", lambda c: {**c, "nbf": _now() + 600, "exp": _now() + 900}, "not yet"),
        ("issued in the future", lambda c: {**c, "iat": _now() + 600}, r"not yet valid \(iat\)"),
        ("a non-integer exp", lambda c: {**c, "exp": "later"}, r"\(exp\) must be an integer"),
        ("another audience", lambda c: {**c, "aud": ["project-test-someone-else"]}, "audience"),
        ("another issuer", lambda c: {**c, "iss": "https://elsewhere.example"}, "issuer"),
        ("no session claim", lambda c: {k: v for k, v in c.items() if k != SESSION}, "claims"),
        ("no exp", lambda c: {k: v for k, v in c.items() if k != "exp"}, "exp"),
    ],
)
def test_a_jwt_that_proves_nothing_is_refused(
    server: RunningServer,
    make_client: MakeClient,
    world: World,
    name: str,
    change: Any,
    reason: str,
) -> None:
    client, _ = make_client()
    token = signed(server, change(claims_of(world.members["admin"].session_jwt)))
    with pytest.raises(InvalidSessionJWT, match=reason):
        client.verify_jwt(token)


def test_a_tampered_jwt_is_refused(make_client: MakeClient, world: World) -> None:
    client, _ = make_client()
    header, _payload, signature = world.members["plain"].session_jwt.split(".")
    claims = claims_of(world.members["plain"].session_jwt)
    claims[SESSION]["roles"].append("stytch_admin")
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSessionJWT, match="signature"):
        client.verify_jwt(f"{header}.{forged_payload}.{signature}")


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_malformed_tokens_are_refused(make_client: MakeClient, token: str) -> None:
    client, _ = make_client()
    with pytest.raises(InvalidSessionJWT):
        client.verify_jwt(token)


def test_an_unsigned_or_hmac_jwt_is_refused(make_client: MakeClient, world: World) -> None:
    client, _ = make_client()
    real = world.members["admin"].session_jwt
    kid = jwt.get_unverified_header(real)["kid"]
    claims = claims_of(real)
    client.verify_jwt(real)  # the key is known
    for token in [
        jwt.encode(claims, None, algorithm="none", headers={"kid": kid}),
        jwt.encode(
            claims, "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256", headers={"kid": kid}
        ),
    ]:
        with pytest.raises(InvalidSessionJWT):
            client.verify_jwt(token)


def test_the_issuer_is_configurable(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    """The server's public URL may differ from the address the app reaches it by."""
    elsewhere = "https://auth.example.com"
    token = signed(server, {**claims_of(world.members["admin"].session_jwt), "iss": elsewhere})
    client, _ = make_client(issuer=elsewhere + "/")
    assert client.verify_jwt(token).member_id == world.members["admin"].member_id
    with pytest.raises(InvalidSessionJWT, match="issuer"):
        client.verify_jwt(world.members["admin"].session_jwt)


def _foreign_token(claims: dict[str, Any], kid: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_unknown_keys_are_refused_without_a_refetch_storm(
    make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client()
    claims = claims_of(world.members["admin"].session_jwt)
    client.verify_jwt(world.members["admin"].session_jwt)
    token = _foreign_token(claims, "jwk-test-unknown")
    for _ in range(20):
        with pytest.raises(InvalidSessionJWT, match="unknown key"):
            client.verify_jwt(token)
    assert len(recorded.paths(JWKS)) == 1


def test_a_first_token_with_an_unknown_key_fetches_once(
    make_client: MakeClient, world: World
) -> None:
    client, recorded = make_client()
    token = _foreign_token(claims_of(world.members["admin"].session_jwt), "jwk-test-unknown")
    for _ in range(5):
        with pytest.raises(InvalidSessionJWT, match="unknown key"):
            client.verify_jwt(token)
    assert len(recorded.paths(JWKS)) == 1
    assert client.verify_jwt(world.members["admin"].session_jwt).member_id  # now known


def test_a_rotated_key_is_fetched_once_the_refetch_interval_passed(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    fake = FakeClock()
    client, recorded = make_client(clock=fake)
    admin = world.members["admin"]
    client.verify_jwt(admin.session_jwt)

    sealer = server.gatehouse.runtime.sealer
    row = new_signing_key(server.project_id, clock.now(), sealer)
    with server.store.transaction() as tx:
        server.store.insert_signing_key(tx, row)
    rotated = jwt.encode(
        claims_of(admin.session_jwt),
        sealer.open(row["private_key_pem"]),
        algorithm="RS256",
        headers={"kid": row["kid"]},
    )
    fake.advance(client_jwks.REFETCH_SECONDS - 1)
    with pytest.raises(InvalidSessionJWT, match="unknown key"):
        client.verify_jwt(rotated)  # asked within the interval: refused, with no second fetch
    assert len(recorded.paths(JWKS)) == 1
    fake.advance(1)
    assert client.verify_jwt(rotated).member_id == admin.member_id
    assert len(recorded.paths(JWKS)) == 2


def test_a_remembered_token_still_expires(
    server: RunningServer, make_client: MakeClient, world: World
) -> None:
    fake = FakeClock()
    client, _ = make_client(clock=fake)
    expires = int(fake.wall()) + 60
    token = signed(server, {**claims_of(world.members["admin"].session_jwt), "exp": expires})
    assert client.verify_jwt(token).member_id  # verified, and now remembered
    fake.advance(59)
    assert client.verify_jwt(token).member_id  # remembered: a second before it expires
    fake.advance(1)
    with pytest.raises(InvalidSessionJWT, match="expired"):
        client.verify_jwt(token)  # at its exp


def test_an_unreachable_server_is_a_server_error(world: World) -> None:
    with Client(
        "project-test-x",
        "secret-test-x",
        "http://127.0.0.1:9",
        push=False,
        poll_seconds=3600,
        timeout=2,
    ) as client:
        with pytest.raises(ServerError, match="could not fetch the jwks"):
            client.verify_jwt(world.members["admin"].session_jwt)


def test_expires_at_is_the_sessions_expiry(make_client: MakeClient, world: World) -> None:
    client, _ = make_client()
    session = client.verify_jwt(world.members["admin"].session_jwt)
    assert session.expires_at.tzinfo is not None
    assert session.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
