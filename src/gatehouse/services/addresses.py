"""Email addresses and domains: what Gatehouse accepts, in one place for the API and the CLI."""

from __future__ import annotations

import re

_DOMAIN = re.compile(r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")


def domain_of(email: str) -> str:
    """The domain of an email address, lowercased."""
    return email.rpartition("@")[2].lower()


def is_domain(value: str) -> bool:
    return _DOMAIN.fullmatch(value.lower()) is not None


def is_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return (
        len(value) <= 254
        and bool(at)
        and _EMAIL_LOCAL.fullmatch(local) is not None
        and is_domain(domain)
    )
