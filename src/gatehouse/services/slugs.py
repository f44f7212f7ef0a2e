"""Slugs made from display names (organizations, projects, environments)."""

from __future__ import annotations

import re

_SLUG_CHARS = re.compile(r"[^a-z0-9._~-]+")


def slugify(name: str, fallback: str, short_suffix: str | None = None) -> str:
    """A slug of `name`'s safe characters; `fallback` when none are left, and padded with
    `-<short_suffix>` (default: the fallback) when shorter than the 2-character minimum."""
    base = _SLUG_CHARS.sub("-", name.lower()).strip("-.~_")[:100] or fallback
    return base if len(base) >= 2 else f"{base}-{short_suffix or fallback}"
