"""Identifiers in Stytch's style: `<kind>-<test|live>-<uuid>`."""

from __future__ import annotations

import uuid


def new_id(kind: str, environment_kind: str) -> str:
    return f"{kind}-{environment_kind}-{uuid.uuid4()}"


def environment_kind(environment_id: str) -> str:
    return "live" if environment_id.startswith("project-live-") else "test"


def request_id() -> str:
    return f"request-id-{uuid.uuid4()}"


def email_id(member_id: str) -> str:
    """A stable id for a member's email address (Gatehouse keeps one email per member)."""
    kind = "live" if "-live-" in member_id else "test"
    return f"email-{kind}-{uuid.uuid5(uuid.NAMESPACE_URL, member_id)}"
