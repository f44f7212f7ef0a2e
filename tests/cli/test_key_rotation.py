"""`gatehouse key rotate-signing`: a new JWT signing key for an environment. The JWKS publishes
the old and the new key at once, so a JWT signed before the rotation still verifies; a running node
(one following the change feed) signs with the new key from `--signs-after` seconds on."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt

from gatehouse.config import Settings
from gatehouse.services.wiring import Gatehouse
from gatehouse.storage import open_store
from tests.cli.test_cli import Project, assert_clean_failure
from tests.cli.test_cli_ux import project  # noqa: F401  (the fixture)
from tests.server import FAST_ARGON2, TEST_ENCRYPTION_KEY


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "member-test-x", "iat": now, "exp": now + 300}


def _verify(token: str, jwks: list[dict[str, Any]]) -> dict[str, Any]:
    """Verify as an app does: the key from the JWKS named by the JWT's `kid`."""
    kid = jwt.get_unverified_header(token)["kid"]
    (entry,) = [k for k in jwks if k["kid"] == kid]
    return dict(jwt.decode(token, jwt.PyJWK(entry).key, algorithms=["RS256"]))


def test_rotate_signing_publishes_both_keys_and_signs_with_the_new_one(
    project: Project,  # noqa: F811
) -> None:
    env = project.test_id
    store = open_store(project.database_url)
    node = Gatehouse(store, Settings(encryption_keys=TEST_ENCRYPTION_KEY, **FAST_ARGON2))
    node.runtime.start()
    try:
        deadline = time.monotonic() + 10
        while not node.runtime.feed_connected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert node.runtime.feed_connected
        before = node.keys.sign(env, _claims())
        old_kid = jwt.get_unverified_header(before)["kid"]

        result = project.run(
            "key", "rotate-signing", "--project-id", env, "--signs-after", "0", "--json"
        )
        assert result.returncode == 0, result.stderr
        made = json.loads(result.stdout)
        new_kid = made["kid"]
        assert made["project_id"] == env and new_kid != old_kid
        assert made["published"] == [new_kid, old_kid]

        with store.read() as tx:
            jwks = node.keys.jwks(tx, env)
        assert {k["kid"] for k in jwks} == {old_kid, new_kid}
        assert _verify(before, jwks)["sub"] == "member-test-x"  # signed before: still verifies

        # The running node learns of the new key from the change feed and signs with it.
        deadline = time.monotonic() + 10
        after = node.keys.sign(env, _claims())
        while jwt.get_unverified_header(after)["kid"] != new_kid and time.monotonic() < deadline:
            time.sleep(0.01)
            after = node.keys.sign(env, _claims())
        assert jwt.get_unverified_header(after)["kid"] == new_kid
        assert _verify(after, jwks)["sub"] == "member-test-x"
        with store.read() as tx:  # the node verifies both
            assert node.keys.verifier(tx, env, old_kid) is not None
            assert node.keys.verifier(tx, env, new_kid) is not None
        # The other environment keeps its one key.
        with store.read() as tx:
            assert len(node.keys.jwks(tx, project.live_id)) == 1
    finally:
        node.runtime.stop()
        store.engine.dispose()

    # A node started afterwards signs with the new key too.
    store = open_store(project.database_url)
    try:
        fresh = Gatehouse(store, Settings(encryption_keys=TEST_ENCRYPTION_KEY, **FAST_ARGON2))
        assert jwt.get_unverified_header(fresh.keys.sign(env, _claims()))["kid"] == new_kid
    finally:
        store.engine.dispose()

    text = project.run("key", "rotate-signing", "--project-id", project.live_id)
    assert text.returncode == 0, text.stderr
    first, second = text.stdout.splitlines()
    assert first.startswith(f"project_id={project.live_id} signing key kid=jwk-live-")
    assert " signs_from=20" in first
    assert second.startswith("the JWKS publishes 2 key(s): ")

    before_snapshot = project.snapshot()
    unknown = project.run("key", "rotate-signing", "--project-id", "project-test-nope")
    assert_clean_failure(unknown, "`project-test-nope` was not found in the database")
    assert project.snapshot() == before_snapshot


def test_a_new_key_is_published_before_it_signs(project: Project) -> None:  # noqa: F811
    env = project.test_id
    store = open_store(project.database_url)
    node = Gatehouse(store, Settings(encryption_keys=TEST_ENCRYPTION_KEY, **FAST_ARGON2))
    node.runtime.start()
    try:
        old_kid = jwt.get_unverified_header(node.keys.sign(env, _claims()))["kid"]
        result = project.run(
            "key", "rotate-signing", "--project-id", env, "--signs-after", "3", "--json"
        )
        assert result.returncode == 0, result.stderr
        made = json.loads(result.stdout)
        rotated_at = time.monotonic()
        with store.read() as tx:
            assert {k["kid"] for k in node.keys.jwks(tx, env)} == {old_kid, made["kid"]}
        # Published, not yet signing: the old key signs until `signs_from`, then the new one.
        kids = []
        while time.monotonic() - rotated_at < 8:
            kids.append(jwt.get_unverified_header(node.keys.sign(env, _claims()))["kid"])
            if kids[-1] == made["kid"]:
                break
            time.sleep(0.05)
        assert kids[-1] == made["kid"]
        assert time.monotonic() - rotated_at >= 2.5
        assert set(kids[:-1]) == {old_kid}
    finally:
        node.runtime.stop()
        store.engine.dispose()
