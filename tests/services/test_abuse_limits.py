"""The abuse limits, the sealer and the mailer's headers, as pure units (a fake clock)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gatehouse.config import Settings
from gatehouse.errors import Code, GatehouseError
from gatehouse.services.mail import Mailer
from gatehouse.services.security.credentials import Passwords, hash_slots
from gatehouse.services.security.sealing import Sealer, key_file_for, new_key
from gatehouse.services.security.throttle import SendLimits, SignInGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(call: object) -> GatehouseError:
    with pytest.raises(GatehouseError) as raised:
        call()  # type: ignore[operator]
    assert raised.value.code == Code.TOO_MANY_REQUESTS
    assert raised.value.retry_after is not None and raised.value.retry_after >= 1
    return raised.value


def test_a_client_is_limited_per_account_and_overall_but_the_owner_never_is() -> None:
    clock = Clock()
    guard = SignInGuard(per_client=6, per_account_client=3, per_account=5, clock=clock)
    account = ("dashboard", "owner@example.com")
    for _ in range(3):
        guard.check(account, "attacker")
        guard.failed(account, "attacker")
    error = refused(lambda: guard.check(account, "attacker"))
    assert 890 <= (error.retry_after or 0) <= 900
    guard.check(account, "owner")  # another client: not limited
    for _ in range(2):
        guard.failed(account, "second")
    # 5 failures for the account: clients that failed on it are out, clean clients are not.
    refused(lambda: guard.check(account, "second"))
    guard.check(account, "owner")
    guard.check(("dashboard", "other@example.com"), "second")
    # Overall per client: 6 failures over any accounts.
    for n in range(3):
        guard.failed(("dashboard", f"p{n}@example.com"), "attacker")
    refused(lambda: guard.check(("dashboard", "fresh@example.com"), "attacker"))
    clock.now += 901  # the window passes
    guard.check(account, "attacker")


def test_a_success_clears_only_that_clients_count() -> None:
    guard = SignInGuard(per_client=100, per_account_client=2, per_account=100, clock=Clock())
    account = ("b2b", "env", "org", "m@example.com")
    guard.failed(account, "a")
    guard.failed(account, "b")
    guard.failed(account, "b")
    guard.succeeded(account, "a")
    guard.check(account, "a")
    refused(lambda: guard.check(account, "b"))


def test_sends_are_a_token_bucket_per_address_and_per_client() -> None:
    clock = Clock()
    limits = SendLimits(per_address_per_hour=2, per_client_per_hour=3, clock=clock)
    limits.take("A@example.com", "1.2.3.4")
    limits.take("a@example.com", "1.2.3.4")
    error = refused(lambda: limits.take("a@example.com", "5.6.7.8"))
    assert 1790 <= (error.retry_after or 0) <= 1800  # one token every 30 minutes
    limits.take("b@example.com", "1.2.3.4")
    refused(lambda: limits.take("c@example.com", "1.2.3.4"))  # the client's third was its last
    limits.take("c@example.com", "5.6.7.8")  # refusals counted nothing
    limits.take("d@example.com", None)  # a send no client asked for: the address alone
    clock.now += 1800
    limits.take("a@example.com", "5.6.7.8")
    refused(lambda: limits.take("a@example.com", "5.6.7.8"))


def test_hashing_waits_briefly_for_a_slot_then_refuses() -> None:
    passwords = Passwords(1, 8, 1, concurrency=1, wait_seconds=0.05)
    assert hash_slots(0) == 2 * (os.cpu_count() or 1)
    hashed = passwords.hash("a passphrase")
    with passwords.slot():
        refused(lambda: passwords.verify(hashed, "a passphrase"))
        refused(lambda: passwords.hash("another"))
    released = threading.Event()

    def hold() -> None:
        with passwords.slot():
            released.wait(0.02)

    holder = threading.Thread(target=hold)
    holder.start()
    assert passwords.verify(hashed, "a passphrase")  # waited for the slot, then ran
    holder.join()


def test_the_first_key_seals_every_key_opens_and_clear_text_still_opens() -> None:
    old, new = new_key(), new_key()
    sealed = Sealer([old]).seal("-----BEGIN PRIVATE KEY-----\nsecret\n")
    assert sealed.startswith("fernet:") and "PRIVATE KEY" not in sealed
    rotated = Sealer([new, old])
    assert rotated.open(sealed).startswith("-----BEGIN PRIVATE KEY-----")
    assert rotated.needs_resealing(sealed)
    resealed = rotated.reseal(sealed)
    assert not rotated.needs_resealing(resealed)
    assert Sealer([new]).open(resealed) == rotated.open(sealed)
    clear = "-----BEGIN PRIVATE KEY-----\nold\n"
    assert rotated.open(clear) == clear and rotated.needs_resealing(clear)
    with pytest.raises(RuntimeError, match="encryption_keys"):
        Sealer([new_key()]).open(sealed)


def test_without_a_configured_key_one_is_generated_once_beside_the_sqlite_file(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'gatehouse.db'}"
    assert key_file_for(url) == tmp_path / "data" / "encryption.key"
    sealed = Sealer.from_settings(Settings(database_url=url)).seal("x")
    key_file = tmp_path / "data" / "encryption.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Sealer.from_settings(Settings(database_url=url)).open(sealed) == "x"
    assert list(key_file.parent.iterdir()) == [key_file]  # no draft left behind


def test_email_headers_are_one_line_with_a_date_and_a_message_id() -> None:
    mailer = Mailer(Settings(smtp_from="Gatehouse <noreply@gatehouse.example>"))
    message = mailer.message("a@example.com", "Sign in to Evil\r\nBcc: x@example.org", "body")
    assert message["Subject"] == "Sign in to Evil Bcc: x@example.org"
    assert message["Bcc"] is None
    assert message["Date"] and message["Message-ID"].endswith("@gatehouse.example>")
    assert "\nBcc:" not in message.as_string()
