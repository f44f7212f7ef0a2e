"""The dashboard's CSRF tokens and last-used cookie (gatehouse.dashboard.security), without a
browser: each is bound to its session and cannot be forged or moved to another one."""

from __future__ import annotations

import time

from gatehouse.dashboard import security


def test_a_csrf_token_belongs_to_one_session():
    token = security.csrf_token("session-a")
    assert security.csrf_matches("session-a", token)
    assert not security.csrf_matches("session-b", token)
    assert not security.csrf_matches("session-a", token.upper())
    assert not security.csrf_matches("session-a", "")
    assert not security.csrf_matches(None, token)
    assert "session-a" not in token


def test_the_last_used_cookie_cannot_be_forged_or_moved():
    now = time.time()
    value = security.seen_value("session-a", now - 60)
    idle = security.idle_for("session-a", value)
    assert idle is not None and 59 <= idle <= 62
    assert security.idle_for("session-b", value) is None  # another session's
    stamp, _, mac = value.partition(".")
    assert security.idle_for("session-a", f"{int(now)}.{mac}") is None  # made younger
    for forged in (None, "", "soon", f"{stamp}.", f"-{stamp}.{mac}", "1.2.3"):
        assert security.idle_for("session-a", forged) is None
