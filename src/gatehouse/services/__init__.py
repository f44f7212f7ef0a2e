"""Gatehouse's services: the transaction boundary, enforcement, cache invalidation and the event
log; the only callers of storage. Routes, the dashboard and the CLI call services, never storage.

    wiring      Gatehouse: every service of one node, wired over one store (the front door)
    context     Environment, Caller, ActiveSession, CachedSession: what requests carry
    b2b/        the B2B API: organizations, members, passwords, sessions, checks, rbac
    workspace/  the Management API and dashboard: people, sign-in, projects, support
    security/   credentials, password hashes, signing keys, throttling
    node/       the node's memory and the change feed that keeps it fresh
    clock, ids, slugs, addresses, events, mail: small shared helpers
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gatehouse.services.wiring import Gatehouse

__all__ = ["Gatehouse"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing one service does not import the whole graph.
    if name == "Gatehouse":
        from gatehouse.services.wiring import Gatehouse

        return Gatehouse
    raise AttributeError(name)
