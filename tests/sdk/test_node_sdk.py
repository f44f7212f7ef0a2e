"""A second real client: the official Stytch Node SDK (`stytch` on npm, pinned in
tests/node/package.json) against a real Gatehouse server, beside the Python SDK tests.

tests/node/b2b.mjs makes the calls and prints one JSON line per check; each test here asserts the
checks of one area passed. The SDK takes `custom_base_url` only over https, so the main run is
against `tls_server` (trusting its certificate through NODE_EXTRA_CA_CERTS), as a deployment
would point the SDK at Gatehouse; a second run over plain http, against `server`, passes the URL
as the SDK's `env` (what the Python tests do with `environment=`).

`scripts/test` installs tests/node/node_modules (`npm ci`). Without Node.js or those modules the
tests skip with the reason, but never under CI (CI=true): there they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.sdk.support import PROJECT_POLICY, install_policy
from tests.server import RunningServer

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "b2b.mjs"
AREAS = ["orgs", "members", "passwords", "sessions", "jwt", "rbac"]
TIMEOUT_SECONDS = 90  # under pytest-timeout's 120 s, so the subprocess error is the one reported

# The checks each area must report (beyond its `runs_to_completion`): a check that silently
# disappeared from the script fails here rather than passing unnoticed.
EXPECTED = {
    "orgs": {
        "create",
        "create_duplicate_slug_409",
        "get_by_id_slug_and_external_id",
        "get_unknown_404",
        "update_persists",
        "search_by_id_and_fuzzy_name_with_a_cursor",
        "delete_then_get_404_and_search_empty",
    },
    "members": {
        "create",
        "create_duplicate_email_409",
        "create_in_unknown_org_404",
        "create_with_unknown_role_400",
        "get_by_member_id_and_by_email",
        "update_persists",
        "search_by_org_and_email_with_a_cursor",
        "update_with_a_session_header_is_enforced",
        "delete_then_get_404_then_reactivate",
    },
    "passwords": {
        "migrate_bcrypt_creates_the_member",
        "migrate_again_updates_the_same_member",
        "authenticate_starts_a_session",
        "authenticate_wrong_password_401",
        "authenticate_unknown_email_401",
        "strength_check",
        "delete_password_stops_password_sign_in",
    },
    "sessions": {
        "authenticate_token",
        "authenticate_jwt_remotely",
        "authenticate_token_and_jwt_together_400",
        "authenticate_with_an_allowed_check",
        "authenticate_with_a_denied_check_403",
        "authenticate_with_a_check_in_another_org_403",
        "get_jwks",
        "get_lists_the_members_sessions_and_revoke_ends_one",
        "revoke_by_token_and_by_member",
    },
    "jwt": {
        "claims_name_the_base_url_as_issuer",
        "local_without_a_check_makes_no_api_call",
        "local_allowed_check_fetches_only_the_policies",
        "local_denied_check_is_invalid_permissions",
        "local_check_in_another_org_is_tenancy_mismatch",
        "local_org_custom_role_grants",
        "authenticate_jwt_allowed_answers_locally",
        "authenticate_jwt_denied_falls_back_to_the_server_403",
        "authenticate_jwt_max_token_age_zero_asks_the_server",
        "a_client_with_another_base_url_rejects_the_issuer",
        "a_revoked_session_still_verifies_locally_until_it_expires",
    },
    "rbac": {
        "policy_has_the_defaults_and_the_project_roles",
        "a_new_org_has_an_empty_org_policy",
        "set_org_policy_reads_back",
        "an_invalid_org_policy_is_400_and_changes_nothing",
        "wrong_secret_is_401",
    },
}


def _node_missing() -> str | None:
    """Why the Node SDK cannot run here, or None."""
    if shutil.which("node") is None:
        return "Node.js is not installed (install `nodejs npm`; scripts/test does as root)"
    if not (NODE_DIR / "node_modules" / "stytch" / "package.json").is_file():
        return "tests/node/node_modules is missing: run scripts/test (npm ci --prefix tests/node)"
    return None


def _require_node() -> None:
    reason = _node_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the Node SDK tests: {reason}")
    pytest.skip(reason)


def run_node(server: RunningServer, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run b2b.mjs against `server`; its checks, one dict per JSON line."""
    install_policy(server, PROJECT_POLICY)
    done = subprocess.run(
        [
            "node",
            str(SCRIPT),
            "--url",
            server.url,
            "--project-id",
            server.project_id,
            "--secret",
            server.secret,
            "--areas",
            ",".join(AREAS),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        cwd=NODE_DIR,
        env={**os.environ, **(env or {})},
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode in (0, 1), (
        f"b2b.mjs exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    assert done.returncode == (1 if any(not c["ok"] for c in lines) else 0), done.stderr
    return lines


@pytest.fixture(scope="module", autouse=True)
def node() -> None:
    """Before any server starts: skip (or, in CI, fail) without Node.js and the SDK."""
    _require_node()


@pytest.fixture(scope="module")
def https_checks(tls_server: RunningServer) -> list[dict[str, Any]]:
    assert tls_server.tls_cert is not None
    return run_node(tls_server, {"NODE_EXTRA_CA_CERTS": str(tls_server.tls_cert)})


@pytest.fixture(scope="module")
def http_checks(server: RunningServer) -> list[dict[str, Any]]:
    return run_node(server)


def _failure(check: dict[str, Any]) -> str:
    details = dict(check["details"])
    message = details.pop("message", "")
    return f"{check['name']}: {message}\n{json.dumps(details, indent=2)}"


def assert_area(checks: list[dict[str, Any]], area: str) -> None:
    mine = [c for c in checks if c["area"] == area]
    failed = [c for c in mine if not c["ok"]]
    assert not failed, "\n\n".join(_failure(c) for c in failed)
    assert {c["name"] for c in mine} == EXPECTED[area] | {"runs_to_completion"}


@pytest.mark.parametrize("area", AREAS)
def test_node_sdk_over_https_custom_base_url(https_checks: list[dict[str, Any]], area: str) -> None:
    assert_area(https_checks, area)


@pytest.mark.parametrize("area", AREAS)
def test_node_sdk_over_plain_http_env(http_checks: list[dict[str, Any]], area: str) -> None:
    assert_area(http_checks, area)


def test_the_sdk_refuses_custom_base_url_over_http() -> None:
    """Why the plain-http run passes `env`: a guard on the SDK's behaviour, so that the day it
    changes, b2b.mjs and COMPATIBILITY.md can use `custom_base_url` everywhere."""
    script = (
        "const stytch = require('stytch');"
        "try { new stytch.B2BClient({project_id: 'project-test-x', secret: 's',"
        " custom_base_url: 'http://127.0.0.1:1/'}); console.log('accepted'); }"
        " catch (e) { console.log(e.message); }"
    )
    done = subprocess.run(
        ["node", "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=NODE_DIR,
        check=True,
    )
    assert done.stdout.strip() == "custom_base_url must use HTTPS scheme"


def test_the_pinned_sdk_version_is_installed() -> None:
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["stytch"]
    installed = json.loads((NODE_DIR / "node_modules" / "stytch" / "package.json").read_text())
    assert installed["version"] == pinned
    assert pinned.startswith("14.")
