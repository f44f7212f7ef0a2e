"""Identifiers in Stytch's style: `<kind>-<test|live>-<uuid>`."""

from __future__ import annotations

import os
import random
import uuid


def new_id(kind: str, environment_kind: str) -> str:
    return f"{kind}-{environment_kind}-{uuid.uuid4()}"


def environment_kind(environment_id: str) -> str:
    return "live" if environment_id.startswith("project-live-") else "test"


# Request ids need to be unique, not secret: a PRNG seeded once from the OS serves them without
# a system call per request (uuid4() and os.urandom() cost more than a warm check).
_REQUEST_IDS = random.Random(os.urandom(32))


def request_id() -> str:
    h = f"{_REQUEST_IDS.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"request-id-{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def email_id(member_id: str) -> str:
    """A stable id for a member's email address (Gatehouse keeps one email per member)."""
    kind = "live" if "-live-" in member_id else "test"
    return f"email-{kind}-{uuid.uuid5(uuid.NAMESPACE_URL, member_id)}"
