"""Gatehouse's settings: one frozen value, read once at start-up and handed to what needs it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    public_url: str = "http://127.0.0.1:8080"
    jwt_lifetime_seconds: int = 300
    default_session_minutes: int = 60
    max_session_minutes: int = 525_600
    # argon2id cost for member passwords; the defaults are RFC 9106's low-memory profile.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65_536
    argon2_parallelism: int = 4
    # Outgoing email (sign-in links, invitations, password resets); no host: written to the log.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_from: str = "gatehouse@localhost"
    # Dashboard sign-in.
    dashboard_session_minutes: int = 720
    email_link_minutes: int = 15
    impersonation_minutes: int = 30
    # Node caches (docs/PERFORMANCE.md): resolved sessions kept in memory, a safety-net expiry for
    # every entry, and how long authenticate may hand out the same session JWT while nothing in it
    # changed (signing one costs more than the rest of a check).
    cache_max_sessions: int = 100_000
    cache_ttl_seconds: float = 300.0
    jwt_reuse_seconds: float = 30.0
