"""Online password guessing is throttled per client and account: after five failures from one
client, even the right password is refused to that client for a while, and nothing is written
(tests/api/test_hardening_abuse.py shows that the owner, from another client, still signs in)."""

from __future__ import annotations

import bcrypt
import pytest
from stytch.core.response_base import StytchError


def test_five_failures_stop_the_client_on_the_address_but_not_on_its_neighbours(server):
    client = server.b2b_client()
    org = client.organizations.create(
        organization_name="Guarded", organization_slug="guarded"
    ).organization
    password = "the right passphrase 8e3"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    for email in ("target@guarded.example", "neighbour@guarded.example"):
        client.passwords.migrate(
            email_address=email,
            hash=hashed,
            hash_type="bcrypt",
            organization_id=org.organization_id,
        )

    for _ in range(5):
        with pytest.raises(StytchError) as wrong:
            client.passwords.authenticate(
                organization_id=org.organization_id,
                email_address="target@guarded.example",
                password="nope",
            )
        assert wrong.value.details.error_type == "unauthorized_credentials"

    before = server.snapshot()
    with pytest.raises(StytchError) as throttled:
        client.passwords.authenticate(
            organization_id=org.organization_id,
            email_address="TARGET@guarded.example",
            password=password,
        )
    assert (throttled.value.details.status_code, throttled.value.details.error_type) == (
        429,
        "too_many_requests",
    )
    assert server.snapshot() == before

    neighbour = client.passwords.authenticate(
        organization_id=org.organization_id,
        email_address="neighbour@guarded.example",
        password=password,
    )
    assert neighbour.session_token
