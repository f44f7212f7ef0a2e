"""The one error family of Gatehouse's services. `api.errors` maps each code to an HTTP status.

    GatehouseError(code, message)      every refusal a caller can see
     ├── InvalidInput                  400: malformed or invalid input; carries problems
     └── (codes, not classes, for the rest: see api/errors.py STATUS_BY_CODE)

Messages: lowercase, the caller's input in backticks, what to do next where it helps.
"""

from __future__ import annotations

from collections.abc import Sequence

from gatehouse.policy.model import Problem


class GatehouseError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInput(GatehouseError):
    """Bad input; `problems` lists every reason, each with a path."""

    def __init__(
        self, message: str, problems: Sequence[Problem] = (), code: str = "invalid_request"
    ) -> None:
        if problems:
            message = message + ": " + "; ".join(str(p) for p in problems)
        super().__init__(code, message)
        self.problems = tuple(problems)


def not_found(kind: str, ident: str) -> GatehouseError:
    return GatehouseError(f"{kind}_not_found", f"{kind.replace('_', ' ')} `{ident}` was not found")


def tenancy_error(session_org_id: str, asked_org_id: str) -> GatehouseError:
    """A member session used for another organization than its own."""
    return GatehouseError(
        "session_authorization_tenancy_error",
        f"the session's member belongs to organization `{session_org_id}`, "
        f"not `{asked_org_id}`",
    )
