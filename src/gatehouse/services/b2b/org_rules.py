"""An organization's sign-in rules, as Stytch documents them, enforced by every member sign-in
flow (passwords, magic links, email one-time codes, discovery):

- `email_jit_provisioning`: `RESTRICTED` lets an address at one of `email_allowed_domains` join
  by itself (a new member, from a proven address); `NOT_ALLOWED` (the default) never.
- `email_invites`: `ALL_ALLOWED` (the default), `RESTRICTED` to `email_allowed_domains`,
  `NOT_ALLOWED`.
- `email_allowed_domains` may not name a common consumer email domain (gmail.com, ...): anyone
  can hold an address there.
- `auth_methods`: `RESTRICTED` allows only `allowed_auth_methods`; a breakglass member may use
  any method.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gatehouse.errors import Code, Denied, InvalidInput
from gatehouse.policy import Problem
from gatehouse.services.addresses import domain_of
from gatehouse.storage.rows import MemberRow, OrganizationRow

# Addresses anyone can get: an organization may not let them join by domain.
COMMON_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "ymail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "pm.me",
        "mail.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "yandex.com",
        "yandex.ru",
        "zoho.com",
        "qq.com",
        "163.com",
        "126.com",
        "fastmail.com",
        "hey.com",
        "tutanota.com",
        "mail.ru",
    }
)

MAGIC_LINK = "magic_link"
EMAIL_OTP = "email_otp"
PASSWORD = "password"
SSO = "sso"


def setting(org: OrganizationRow, name: str, default: Any) -> Any:
    return org["settings"].get(name, default)


def check_allowed_domains(domains: Iterable[str] | None) -> None:
    """Refuse common consumer domains in `email_allowed_domains` (400)."""
    problems = [
        Problem(
            f"email_allowed_domains[{i}]",
            f"`{d}` is a common email provider's domain: anyone may hold an address there",
        )
        for i, d in enumerate(domains or [])
        if d.lower() in COMMON_EMAIL_DOMAINS
    ]
    if problems:
        raise InvalidInput(
            "an organization may not allow a common email domain",
            problems,
            code=Code.INVALID_EMAIL_ALLOWED_DOMAINS,
        )


def _domain_allowed(org: OrganizationRow, email: str) -> bool:
    allowed = {d.lower() for d in setting(org, "email_allowed_domains", [])}
    return domain_of(email) in allowed


def may_join_by_domain(org: OrganizationRow, email: str) -> bool:
    """Whether `email` may join the organization by itself (JIT provisioning)."""
    return setting(org, "email_jit_provisioning", "NOT_ALLOWED") == "RESTRICTED" and (
        _domain_allowed(org, email)
    )


def require_join_by_domain(org: OrganizationRow, email: str) -> None:
    if not may_join_by_domain(org, email):
        raise Denied(
            f"`{email}` is not a member of organization `{org['id']}`, and its "
            "`email_jit_provisioning` does not let this address join by itself (it must be "
            "`RESTRICTED` with the address's domain in `email_allowed_domains`); invite them",
            code=Code.EMAIL_JIT_PROVISIONING_NOT_ALLOWED,
        )


def require_invite_allowed(org: OrganizationRow, email: str) -> None:
    rule = setting(org, "email_invites", "ALL_ALLOWED")
    if rule == "ALL_ALLOWED" or (rule == "RESTRICTED" and _domain_allowed(org, email)):
        return
    why = (
        "does not allow invitations"
        if rule == "NOT_ALLOWED"
        else "allows invitations only to addresses at its `email_allowed_domains`"
    )
    raise Denied(
        f"organization `{org['id']}`'s `email_invites` ({rule}) {why}",
        code=Code.EMAIL_INVITES_NOT_ALLOWED,
    )


def method_allowed(org: OrganizationRow, method: str, member: MemberRow | None) -> bool:
    if member is not None and member["is_breakglass"]:
        return True
    if setting(org, "auth_methods", "ALL_ALLOWED") != "RESTRICTED":
        return True
    return method in setting(org, "allowed_auth_methods", [])


def allowed_methods(org: OrganizationRow) -> list[str]:
    if setting(org, "auth_methods", "ALL_ALLOWED") != "RESTRICTED":
        return []
    return list(setting(org, "allowed_auth_methods", []))


def require_method(org: OrganizationRow, method: str, member: MemberRow | None) -> None:
    if not method_allowed(org, method, member):
        raise Denied(
            f"organization `{org['id']}` restricts sign-in to "
            f"{', '.join(allowed_methods(org)) or 'no method'}; `{method}` is not allowed",
            code=Code.AUTH_METHOD_NOT_ALLOWED,
        )
