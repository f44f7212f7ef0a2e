"""The client's exceptions: one family, so that an app can catch everything Gatehouse raises.

    GatehouseClientError
     ├── InvalidSessionJWT   the JWT is malformed, expired, not yet valid, too old, or its
     │                       signature, issuer or audience does not verify
     ├── TenancyError        the session belongs to another organization than the one asked about
     └── ServerError         the server refused a request, answered nonsense, or could not be reached

A denied check is not an error: `is_authorized` returns False, `authorize` a falsy Decision.
"""

from __future__ import annotations


class GatehouseClientError(Exception):
    """Anything `gatehouse.client` raises on purpose."""


class InvalidSessionJWT(GatehouseClientError):
    """The session JWT does not prove a live session of this project."""


class TenancyError(GatehouseClientError):
    """The session's member belongs to another organization: never a plain denial."""

    def __init__(
        self,
        message: str,
        *,
        session_organization_id: str | None = None,
        organization_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.session_organization_id = session_organization_id
        self.organization_id = organization_id

    @classmethod
    def between(cls, session_organization_id: str, organization_id: str) -> TenancyError:
        return cls(
            f"the session's member belongs to organization `{session_organization_id}`, "
            f"not `{organization_id}`",
            session_organization_id=session_organization_id,
            organization_id=organization_id,
        )


class ServerError(GatehouseClientError):
    """A request to the server failed; `error_type` is the server's, when it answered one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.request_id = request_id
