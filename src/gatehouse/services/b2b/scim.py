"""SCIM: an organization's SCIM connection (`scim.connection.*`) and the SCIM 2.0 server
(RFC 7643/7644) at its `base_url`, which provisions the organization's members.

One connection per organization (the database refuses a second). Its bearer token is shown
once (create, and the next token at `rotate_start`) and kept only as a SHA-256 digest. During a
rotation both tokens work; `rotate_complete` keeps only the next one, `rotate_cancel` drops it.

The SCIM resources are modelled, validated, filtered and patched with `scim2-models`: a User is
a member (its SCIM `id` is the member id; `userName` unique per connection), a Group is a row of
`scim_groups` with its members in `scim_group_members`. Each member keeps its registration and
group ids in `members.scim`, and the connection's group role rules are copied into the
organization's settings (`roles.SCIM_SETTING`), so roles come from the rows a session reads and
every change drops the node caches through the member and organization change records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from scim2_models import (
    Context,
    Group,
    GroupMember,
    InvalidFilterException,
    InvalidValueException,
    Meta,
    NotFoundException,
    PatchOp,
    ResourceType,
    SCIMException,
    ScimFilter,
    ScimProvider,
    UniquenessException,
    User,
)
from scim2_models import (
    ServiceProviderConfig as SPC,
)

from gatehouse.errors import Code, Duplicate, GatehouseError, InvalidInput, Kind, NotFound
from gatehouse.policy import Problem
from gatehouse.services import clock, events, ids
from gatehouse.services.b2b import enforcement
from gatehouse.services.b2b.organizations import Organizations
from gatehouse.services.b2b.roles import SCIM_SETTING, role_exists
from gatehouse.services.context import Caller
from gatehouse.services.node.runtime import Runtime
from gatehouse.services.security import credentials
from gatehouse.storage.interface import (
    EventStore,
    MemberStore,
    OrganizationStore,
    ReadTx,
    ScimStore,
    SessionStore,
    Transactions,
    WriteTx,
)
from gatehouse.storage.rows import (
    JsonObject,
    MemberRow,
    OrganizationRow,
    ScimConnectionRow,
    ScimConnectionValues,
    ScimGroupRow,
    ScimUserRow,
)


class _Store(
    Transactions, OrganizationStore, MemberStore, SessionStore, EventStore, ScimStore, Protocol
):
    """The storage this service uses."""


IDENTITY_PROVIDERS = (
    "generic",
    "okta",
    "microsoft-entra",
    "cyberark",
    "jumpcloud",
    "onelogin",
    "pingfederate",
    "rippling",
)

SCIM_PATH = "/v1/b2b/scim"
MAX_RESULTS = 1000
NO_ADDRESS_DOMAIN = "scim.invalid"


@dataclass(frozen=True, slots=True)
class ScimConnectionView:
    """A connection, the names of its groups (for its role rules), and a token shown once."""

    row: ScimConnectionRow
    base_url: str
    group_names: dict[str, str]
    bearer_token: str | None = None
    next_bearer_token: str | None = None


@dataclass(frozen=True, slots=True)
class ScimGroupPage:
    groups: list[ScimGroupRow]
    organization_id: str
    next_cursor: str | None


def _new_token() -> tuple[str, str]:
    token = credentials.new_token()
    return token, credentials.token_digest(token)


class ScimConnections:
    """`scim.connection.*`: held to the `stytch.sso` actions with a member session header."""

    def __init__(self, runtime: Runtime, organizations: Organizations) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store
        self.organizations = organizations

    def base_url(self, connection_id: str) -> str:
        return f"{self.runtime.settings.public_url.rstrip('/')}{SCIM_PATH}/{connection_id}"

    def _view(
        self,
        tx: ReadTx,
        row: ScimConnectionRow,
        token: str | None = None,
        next_token: str | None = None,
    ) -> ScimConnectionView:
        names = {g["id"]: g["display_name"] for g in self.store.scim_groups(tx, row["id"])}
        return ScimConnectionView(row, self.base_url(row["id"]), names, token, next_token)

    def _find(
        self, tx: ReadTx, org: OrganizationRow, connection_id: str | None = None
    ) -> ScimConnectionRow:
        row = self.store.find_scim_connection(tx, org["id"])
        if row is None or (connection_id is not None and row["id"] != connection_id):
            raise NotFound(Kind.SCIM_CONNECTION, connection_id or org["id"])
        return row

    def summarise(self, tx: WriteTx, org: OrganizationRow, row: ScimConnectionRow | None) -> None:
        """Copy the connection's summary and role rules into the organization's settings."""
        settings = {k: v for k, v in org["settings"].items() if k != SCIM_SETTING}
        if row is not None:
            expires = row["token_expires_at"]
            settings[SCIM_SETTING] = {
                "connection_id": row["id"],
                "display_name": row["display_name"],
                "bearer_token_last_four": row["token_last_four"],
                "bearer_token_expires_at": clock.iso(expires) if expires else None,
                "group_roles": row["group_roles"],
            }
        self.store.update_organization(tx, org["id"], {"settings": settings})

    def _check_identity_provider(self, fields: dict[str, Any]) -> None:
        provider = fields.get("identity_provider")
        if provider is not None and provider not in IDENTITY_PROVIDERS:
            raise InvalidInput(
                "unknown identity provider",
                [Problem("identity_provider", f"must be one of {', '.join(IDENTITY_PROVIDERS)}")],
            )

    def create(self, caller: Caller, org_ident: str, fields: dict[str, Any]) -> ScimConnectionView:
        self._check_identity_provider(fields)
        now = clock.now()
        token, digest = _new_token()
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_sso(self.runtime, caller, org, "create")
            row: ScimConnectionRow = {
                "id": ids.new_id("scim-connection", caller.environment.kind),
                "environment_id": caller.environment.id,
                "organization_id": org["id"],
                "display_name": fields.get("display_name") or "",
                "identity_provider": fields.get("identity_provider") or "generic",
                "token_hash": digest,
                "token_last_four": token[-4:],
                "token_expires_at": None,
                "next_token_hash": None,
                "next_token_last_four": "",
                "next_token_expires_at": None,
                "group_roles": [],
                "created_at": now,
                "updated_at": now,
            }
            self.store.insert_scim_connection(tx, row)  # a second one: Duplicate
            self.summarise(tx, org, row)
            events.record_call(
                self.store,
                tx,
                caller,
                "scim_connection.create",
                row["id"],
                {
                    "organization_id": row["organization_id"],
                    "display_name": row["display_name"],
                    "identity_provider": row["identity_provider"],
                },
            )
            return self._view(tx, row, token=token)

    def get(self, caller: Caller, org_ident: str) -> ScimConnectionView:
        with self.store.read() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_tenancy(caller, org)
            return self._view(tx, self._find(tx, org))

    def update(
        self, caller: Caller, org_ident: str, connection_id: str, fields: dict[str, Any]
    ) -> ScimConnectionView:
        self._check_identity_provider(fields)
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_sso(self.runtime, caller, org, "update")
            row = self._find(tx, org, connection_id)
            values: ScimConnectionValues = {"updated_at": clock.now()}
            if "display_name" in fields:
                values["display_name"] = fields["display_name"]
            if "identity_provider" in fields:
                values["identity_provider"] = fields["identity_provider"]
            if "scim_group_implicit_role_assignments" in fields:
                rules = fields["scim_group_implicit_role_assignments"]
                groups = {g["id"] for g in self.store.scim_groups(tx, row["id"])}
                problems = []
                for i, rule in enumerate(rules):
                    if not role_exists(caller.environment, org, rule["role_id"]):
                        problems.append(
                            Problem(
                                f"scim_group_implicit_role_assignments[{i}].role_id",
                                f"role `{rule['role_id']}` does not exist in the project or "
                                "organization policy",
                            )
                        )
                    if rule["group_id"] not in groups:
                        problems.append(
                            Problem(
                                f"scim_group_implicit_role_assignments[{i}].group_id",
                                f"the connection has no group `{rule['group_id']}`",
                            )
                        )
                if problems:
                    code = (
                        Code.ROLE_NOT_FOUND
                        if all(p.path.endswith("role_id") for p in problems)
                        else Code.INVALID_REQUEST
                    )
                    raise InvalidInput("invalid SCIM group role assignments", problems, code=code)
                values["group_roles"] = [
                    {"group_id": r["group_id"], "role_id": r["role_id"]} for r in rules
                ]
            self.store.update_scim_connection(tx, row["id"], values)
            updated: ScimConnectionRow = {**row, **values}
            self.summarise(tx, org, updated)
            events.record_call(
                self.store, tx, caller, "scim_connection.update", row["id"], dict(fields)
            )
            return self._view(tx, updated)

    def delete(self, caller: Caller, org_ident: str, connection_id: str) -> str:
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_sso(self.runtime, caller, org, "delete")
            row = self._find(tx, org, connection_id)
            now = clock.now()
            for user in self.store.scim_users(tx, row["id"]):
                self.store.update_member(tx, user["member_id"], {"scim": None, "updated_at": now})
            self.store.delete_scim_connection(tx, row["id"])
            self.summarise(tx, org, None)
            events.record_call(self.store, tx, caller, "scim_connection.delete", row["id"])
        return row["id"]

    def get_groups(
        self,
        caller: Caller,
        org_ident: str,
        connection_id: str,
        cursor: str | None,
        limit: int,
    ) -> ScimGroupPage:
        with self.store.read() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_tenancy(caller, org)
            row = self._find(tx, org, connection_id)
            groups = self.store.scim_groups(tx, row["id"])
        start = 0
        if cursor:
            positions = [i for i, g in enumerate(groups) if g["id"] == cursor]
            if not positions:
                raise InvalidInput(
                    "invalid cursor",
                    [Problem("cursor", "not a cursor this listing gave")],
                    code=Code.INVALID_CURSOR,
                )
            start = positions[0]
        page = groups[start : start + limit]
        more = groups[start + limit : start + limit + 1]
        return ScimGroupPage(page, org["id"], more[0]["id"] if more else None)

    def _rotate(
        self, caller: Caller, org_ident: str, connection_id: str, step: str
    ) -> ScimConnectionView:
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_sso(self.runtime, caller, org, "update")
            row = self._find(tx, org, connection_id)
            values: ScimConnectionValues = {"updated_at": clock.now()}
            token = None
            if step == "start":
                token, digest = _new_token()
                values["next_token_hash"] = digest
                values["next_token_last_four"] = token[-4:]
                values["next_token_expires_at"] = None
            elif row["next_token_hash"] is None:
                raise GatehouseError(
                    Code.NO_SCIM_TOKEN_ROTATION,
                    "no bearer token rotation is in progress on this SCIM connection: "
                    "call rotate_start first",
                )
            elif step == "complete":
                values["token_hash"] = row["next_token_hash"]
                values["token_last_four"] = row["next_token_last_four"]
                values["token_expires_at"] = row["next_token_expires_at"]
                values["next_token_hash"] = None
                values["next_token_last_four"] = ""
                values["next_token_expires_at"] = None
            else:
                values["next_token_hash"] = None
                values["next_token_last_four"] = ""
                values["next_token_expires_at"] = None
            self.store.update_scim_connection(tx, row["id"], values)
            updated: ScimConnectionRow = {**row, **values}
            self.summarise(tx, org, updated)
            events.record_call(self.store, tx, caller, f"scim_connection.rotate_{step}", row["id"])
            return self._view(tx, updated, next_token=token)

    def rotate_start(
        self, caller: Caller, org_ident: str, connection_id: str
    ) -> ScimConnectionView:
        """A next token (shown once) that works beside the current one until the rotation ends."""
        return self._rotate(caller, org_ident, connection_id, "start")

    def rotate_complete(
        self, caller: Caller, org_ident: str, connection_id: str
    ) -> ScimConnectionView:
        return self._rotate(caller, org_ident, connection_id, "complete")

    def rotate_cancel(
        self, caller: Caller, org_ident: str, connection_id: str
    ) -> ScimConnectionView:
        return self._rotate(caller, org_ident, connection_id, "cancel")


# -- the SCIM 2.0 server ---------------------------------------------------------------------


def _config() -> SPC:
    return SPC.model_validate(
        {
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "The SCIM connection's bearer token (scim.connection.create)",
                    "primary": True,
                }
            ],
        }
    )


PROVIDER = ScimProvider(
    models=[User[Any], Group],
    resource_types=[ResourceType.from_resource(User), ResourceType.from_resource(Group)],
    config=_config(),
)


class ScimUnauthorized(SCIMException):
    status = 401
    _default_detail = "the bearer token is missing or is not this SCIM connection's"


def _invalid(detail: str) -> InvalidValueException:
    return InvalidValueException(detail=detail)


def _validation_error(error: Exception) -> SCIMException:
    detail = str(error).split("\n")
    return InvalidValueException(
        detail="; ".join(line.strip() for line in detail[1:] if line.strip()) or str(error)
    )


def _member_fields(user: User[Any], registration_id: str) -> tuple[str, str]:
    """The member's email address and name from a SCIM User. A user with no address (no
    `emails`, a `userName` that is not one) gets `<registration id>@scim.invalid`: the
    reserved `.invalid` domain (RFC 2606) is never delivered to and never clashes."""
    emails = list(user.emails or [])
    primary = [e for e in emails if e.primary] or emails
    email = str(primary[0].value) if primary and primary[0].value else ""
    if not email and user.user_name and "@" in user.user_name:
        email = user.user_name
    if not email or "@" not in email:
        email = f"{registration_id}@{NO_ADDRESS_DOMAIN}"
    name = ""
    if user.name is not None:
        name = user.name.formatted or " ".join(
            p for p in (user.name.given_name, user.name.family_name) if p
        )
    return email, (name or user.display_name or "")[:256]


def _values(items: Any, *fields: str) -> list[JsonObject]:
    """Multi-valued attributes as the SDK's SCIMAttributes has them (each field a string, `primary`
    a boolean, none missing)."""
    out = []
    for item in items or []:
        entry: JsonObject = {f: str(getattr(item, f, None) or "") for f in fields}
        entry["primary"] = bool(getattr(item, "primary", False))
        out.append(entry)
    return out


def scim_attributes(user: User[Any], member_id: str, groups: list[JsonObject]) -> JsonObject:
    """The member's `scim_registration.scim_attributes` (the SDK's SCIMAttributes, snake_case)."""

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    name = user.name
    return {
        "user_name": text(user.user_name),
        "id": member_id,
        "external_id": text(user.external_id),
        "active": user.active is not False,
        "groups": groups,
        "display_name": text(user.display_name),
        "nick_name": text(user.nick_name),
        "profile_url": text(user.profile_url),
        "user_type": text(user.user_type),
        "title": text(user.title),
        "preferred_language": text(user.preferred_language),
        "locale": text(user.locale),
        "timezone": text(user.timezone),
        "emails": _values(user.emails, "value", "type"),
        "phone_numbers": _values(user.phone_numbers, "value", "type"),
        "addresses": _values(
            user.addresses,
            "formatted",
            "street_address",
            "locality",
            "region",
            "postal_code",
            "country",
            "type",
        ),
        "ims": _values(user.ims, "value", "type"),
        "photos": _values(user.photos, "value", "type"),
        "entitlements": _values(user.entitlements, "value", "type"),
        "roles": _values(user.roles, "value", "type"),
        "x509certificates": _values(user.x509_certificates, "value", "type"),
        "name": None
        if name is None
        else {
            "formatted": text(name.formatted),
            "family_name": text(name.family_name),
            "given_name": text(name.given_name),
            "middle_name": text(name.middle_name),
            "honorific_prefix": text(name.honorific_prefix),
            "honorific_suffix": text(name.honorific_suffix),
        },
        "enterprise_extension": None,
    }


@dataclass(frozen=True, slots=True)
class ScimContext:
    """Who calls the SCIM server: the connection its bearer token opened."""

    connection: ScimConnectionRow

    @property
    def actor(self) -> str:
        return f"scim_connection:{self.connection['id']}"


class ScimServer:
    """The SCIM 2.0 endpoints of each connection's `base_url`."""

    def __init__(self, runtime: Runtime, connections: ScimConnections) -> None:
        self.runtime = runtime
        self.store: _Store = runtime.store
        self.connections = connections

    # -- authentication ----------------------------------------------------------------

    def authenticate(self, connection_id: str, token: str | None) -> ScimContext:
        with self.store.read() as tx:
            row = self.store.scim_connection_by_id(tx, connection_id)
        if row is None or not token:
            raise ScimUnauthorized()
        good = credentials.digest_matches(token, row["token_hash"])
        if row["next_token_hash"] is not None:
            good = credentials.digest_matches(token, row["next_token_hash"]) or good
        if not good:
            raise ScimUnauthorized()
        return ScimContext(row)

    def _location(self, ctx: ScimContext, kind: str, ident: str) -> str:
        return f"{self.connections.base_url(ctx.connection['id'])}/{kind}/{ident}"

    def _event(
        self,
        tx: WriteTx,
        ctx: ScimContext,
        action: str,
        target: str,
        changes: JsonObject | None = None,
    ) -> None:
        events.record(
            self.store,
            tx,
            ctx.connection["environment_id"],
            ctx.actor,
            action,
            target,
            changes,
        )

    # -- discovery ---------------------------------------------------------------------

    def service_provider_config(self, ctx: ScimContext) -> JsonObject:
        config = PROVIDER.config
        assert config is not None
        config = config.model_copy()
        config.meta = Meta(
            resource_type="ServiceProviderConfig",
            location=f"{self.connections.base_url(ctx.connection['id'])}/ServiceProviderConfig",
        )
        return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)

    def _discovery(self, ctx: ScimContext, kind: str, items: list[Any]) -> list[JsonObject]:
        dumped = []
        for item in items:
            item = item.model_copy()
            item.meta = Meta(
                resource_type=kind[:-1] if kind == "Schemas" else "ResourceType",
                location=self._location(ctx, kind, str(item.id)),
            )
            dumped.append(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
        return dumped

    def resource_types(self, ctx: ScimContext, ident: str | None = None) -> JsonObject:
        items = self._discovery(ctx, "ResourceTypes", list(PROVIDER.resource_types))
        return self._one_or_list(items, ident)

    def schemas(self, ctx: ScimContext, ident: str | None = None) -> JsonObject:
        items = self._discovery(ctx, "Schemas", list(PROVIDER.schemas))
        return self._one_or_list(items, ident)

    @staticmethod
    def _one_or_list(items: list[JsonObject], ident: str | None) -> JsonObject:
        if ident is not None:
            for item in items:
                if item["id"] == ident:
                    return item
            raise NotFoundException(detail=f"no such resource: {ident}")
        return {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(items),
            "startIndex": 1,
            "itemsPerPage": len(items),
            "Resources": items,
        }

    # -- users -------------------------------------------------------------------------

    def _user_resource(
        self,
        ctx: ScimContext,
        row: ScimUserRow,
        groups: dict[str, list[str]],
        names: dict[str, str],
    ) -> User[Any]:
        user: User[Any] = User.model_validate(row["resource"])
        user.id = row["member_id"]
        user.groups = [
            {
                "value": group_id,
                "display": names.get(group_id, ""),
                "ref": self._location(ctx, "Groups", group_id),
            }  # type: ignore[misc]
            for group_id, members in groups.items()
            if row["member_id"] in members
        ] or None
        user.meta = Meta(
            resource_type="User",
            created=row["created_at"],
            last_modified=row["updated_at"],
            location=self._location(ctx, "Users", row["member_id"]),
        )
        return user

    def _users(
        self, tx: ReadTx, ctx: ScimContext
    ) -> tuple[list[ScimUserRow], dict[str, list[str]], dict[str, str]]:
        connection_id = ctx.connection["id"]
        users = self.store.scim_users(tx, connection_id)
        groups = self.store.scim_group_members(tx, connection_id)
        names = {g["id"]: g["display_name"] for g in self.store.scim_groups(tx, connection_id)}
        return users, groups, names

    def _find_user(self, users: list[ScimUserRow], ident: str) -> ScimUserRow:
        for row in users:
            if row["member_id"] == ident:
                return row
        raise NotFoundException(detail=f"no user {ident} in this SCIM connection")

    @staticmethod
    def _parse_user(body: Any, scim_ctx: Context) -> User[Any]:
        if not isinstance(body, dict):
            raise InvalidValueException(detail="the body must be a JSON object")
        try:
            return User.model_validate(body, scim_ctx=scim_ctx)
        except SCIMException:
            raise
        except ValueError as error:
            raise _validation_error(error) from None

    @staticmethod
    def _stored(user: User[Any]) -> JsonObject:
        """The resource as stored: no id, meta, groups (computed) or password (never kept)."""
        dumped = user.model_dump(scim_ctx=Context.DEFAULT)
        for key in ("id", "meta", "groups", "password"):
            dumped.pop(key, None)
        return dumped

    def _org(self, tx: ReadTx, ctx: ScimContext) -> OrganizationRow:
        org = self.store.find_organization(
            tx, ctx.connection["environment_id"], ctx.connection["organization_id"]
        )
        if org is None:  # the connection goes with its organization
            raise NotFoundException(detail="the SCIM connection's organization is gone")
        return org

    def _write_member(
        self,
        tx: WriteTx,
        ctx: ScimContext,
        member: MemberRow | None,
        user: User[Any],
        registration_id: str,
        now: dt.datetime,
    ) -> MemberRow:
        """Create or update the member a SCIM User describes; deactivate when `active` is false."""
        email, name = _member_fields(user, registration_id)
        active = user.active is not False
        environment_id = ctx.connection["environment_id"]
        member_id = (
            member["id"] if member else ids.new_id("member", ids.environment_kind(environment_id))
        )
        group_ids = (member.get("scim") or {}).get("group_ids", []) if member else []
        scim = {
            "connection_id": ctx.connection["id"],
            "registration_id": registration_id,
            "external_id": user.external_id,
            "group_ids": group_ids,
            "scim_attributes": scim_attributes(
                user, member_id, self._group_refs(tx, ctx, group_ids)
            ),
        }
        if member is None:
            member = {
                "id": member_id,
                "environment_id": environment_id,
                "organization_id": ctx.connection["organization_id"],
                "email": email,
                "email_lower": email.lower(),
                "status": "active" if active else "deleted",
                "name": name,
                "external_id": None,
                "is_breakglass": False,
                "email_verified": False,
                "mfa_enrolled": False,
                "mfa_phone_number": "",
                "mfa_phone_verified": False,
                "default_mfa_method": "",
                "totp_registration_id": "",
                "trusted_metadata": {},
                "untrusted_metadata": {},
                "password_id": None,
                "password_hash": None,
                "created_at": now,
                "updated_at": now,
                "scim": scim,
            }
            self.store.insert_member(tx, member)  # an address taken: Duplicate
            self.store.set_direct_roles(tx, environment_id, member["id"], [])
            return member
        values: Any = {
            "email": email,
            "email_lower": email.lower(),
            "name": name,
            "scim": scim,
            "updated_at": now,
        }
        was_active = member["status"] != "deleted"
        if active != was_active:
            values["status"] = "active" if active else "deleted"
        self.store.update_member(tx, member["id"], values)
        if was_active and not active:
            self.store.revoke_member_sessions(tx, member["id"], now)
        return {**member, **values}

    def list_users(
        self,
        ctx: ScimContext,
        filter_text: str | None,
        start_index: int,
        count: int | None,
        params: Any = None,
    ) -> JsonObject:
        with self.store.read() as tx:
            users, groups, names = self._users(tx, ctx)
        resources = [self._user_resource(ctx, row, groups, names) for row in users]
        return self._page(self._filtered(User, resources, filter_text), start_index, count, params)

    def get_user(self, ctx: ScimContext, ident: str, params: Any = None) -> JsonObject:
        with self.store.read() as tx:
            users, groups, names = self._users(tx, ctx)
        user = self._user_resource(ctx, self._find_user(users, ident), groups, names)
        return user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params)

    def create_user(self, ctx: ScimContext, body: Any, params: Any = None) -> JsonObject:
        user = self._parse_user(body, Context.RESOURCE_CREATION_REQUEST)
        now = clock.now()
        environment_id = ctx.connection["environment_id"]
        registration_id = ids.new_id("scim-registration", ids.environment_kind(environment_id))
        try:
            with self.store.transaction() as tx:
                member = self._write_member(tx, ctx, None, user, registration_id, now)
                row: ScimUserRow = {
                    "id": registration_id,
                    "connection_id": ctx.connection["id"],
                    "member_id": member["id"],
                    "user_name_lower": user.user_name.lower() if user.user_name else "",
                    "resource": self._stored(user),
                    "created_at": now,
                    "updated_at": now,
                }
                self.store.insert_scim_user(tx, row)  # a userName taken: Duplicate
                self._event(
                    tx,
                    ctx,
                    "scim.user.create",
                    member["id"],
                    {"userName": user.user_name, "active": user.active is not False},
                )
                users, groups, names = self._users(tx, ctx)
        except Duplicate as taken:
            raise UniquenessException(detail=str(taken)) from None
        resource = self._user_resource(ctx, row, groups, names)
        return resource.model_dump(
            scim_ctx=Context.RESOURCE_CREATION_RESPONSE, response_parameters=params
        )

    def _save_user(
        self, ctx: ScimContext, ident: str, change: Any, action: str, params: Any = None
    ) -> JsonObject:
        """Apply `change(current User) -> new User` to a user, in one transaction."""
        now = clock.now()
        try:
            with self.store.transaction() as tx:
                users, groups, names = self._users(tx, ctx)
                row = self._find_user(users, ident)
                current = self._user_resource(ctx, row, groups, names)
                user: User[Any] = change(current)
                member = self.store.find_member(
                    tx, ctx.connection["organization_id"], row["member_id"]
                )
                if member is None:
                    raise NotFoundException(detail=f"no user {ident} in this SCIM connection")
                self._write_member(tx, ctx, member, user, row["id"], now)
                stored = self._stored(user)
                lower = user.user_name.lower() if user.user_name else ""
                self.store.update_scim_user(tx, row["id"], lower, stored, now)
                self._event(
                    tx,
                    ctx,
                    action,
                    row["member_id"],
                    {"userName": user.user_name, "active": user.active is not False},
                )
                updated: ScimUserRow = {
                    **row,
                    "user_name_lower": lower,
                    "resource": stored,
                    "updated_at": now,
                }
        except Duplicate as taken:
            raise UniquenessException(detail=str(taken)) from None
        resource = self._user_resource(ctx, updated, groups, names)
        return resource.model_dump(
            scim_ctx=Context.RESOURCE_REPLACEMENT_RESPONSE, response_parameters=params
        )

    def replace_user(
        self, ctx: ScimContext, ident: str, body: Any, params: Any = None
    ) -> JsonObject:
        replacement = self._parse_user(body, Context.RESOURCE_REPLACEMENT_REQUEST)

        def change(current: User[Any]) -> User[Any]:
            replacement.id = current.id
            return replacement

        return self._save_user(ctx, ident, change, "scim.user.replace", params)

    def patch_user(self, ctx: ScimContext, ident: str, body: Any, params: Any = None) -> JsonObject:
        patch = self._parse_patch(PatchOp[User[Any]], body)

        def change(current: User[Any]) -> User[Any]:
            patch.patch(current)
            checked = current.model_dump(scim_ctx=Context.DEFAULT)
            return self._parse_user(checked, Context.DEFAULT)

        return self._save_user(ctx, ident, change, "scim.user.patch", params)

    def delete_user(self, ctx: ScimContext, ident: str) -> None:
        now = clock.now()
        with self.store.transaction() as tx:
            users = self.store.scim_users(tx, ctx.connection["id"])
            row = self._find_user(users, ident)
            member_id = row["member_id"]
            for group_id, members in self.store.scim_group_members(
                tx, ctx.connection["id"]
            ).items():
                if member_id in members:
                    self.store.set_scim_group_members(
                        tx, group_id, [m for m in members if m != member_id]
                    )
            self.store.delete_scim_user(tx, row["id"])
            self.store.update_member(
                tx, member_id, {"status": "deleted", "scim": None, "updated_at": now}
            )
            self.store.revoke_member_sessions(tx, member_id, now)
            self._event(tx, ctx, "scim.user.delete", member_id)

    # -- groups ------------------------------------------------------------------------

    def _group_resource(
        self, ctx: ScimContext, row: ScimGroupRow, members: list[str], emails: dict[str, str]
    ) -> Group:
        stored = dict(row["resource"])
        # The `display` the IdP gave each member, else the user's userName.
        given = {str(m.get("value")): m.get("display") for m in stored.pop("memberDisplays", [])}
        emails = {**emails, **{k: v for k, v in given.items() if v}}
        group = Group.model_validate(stored)
        group.id = row["id"]
        group.display_name = row["display_name"]
        group.members = [
            GroupMember.model_validate(
                {
                    "value": m,
                    "display": emails.get(m),
                    "$ref": self._location(ctx, "Users", m),
                    "type": "User",
                }
            )
            for m in members
        ] or None
        group.meta = Meta(
            resource_type="Group",
            created=row["created_at"],
            last_modified=row["updated_at"],
            location=self._location(ctx, "Groups", row["id"]),
        )
        return group

    def _groups(
        self, tx: ReadTx, ctx: ScimContext
    ) -> tuple[list[ScimGroupRow], dict[str, list[str]], dict[str, str]]:
        connection_id = ctx.connection["id"]
        groups = self.store.scim_groups(tx, connection_id)
        members = self.store.scim_group_members(tx, connection_id)
        users = self.store.scim_users(tx, connection_id)
        names = {u["member_id"]: str(u["resource"].get("userName", "")) for u in users}
        return groups, members, names

    @staticmethod
    def _find_group(groups: list[ScimGroupRow], ident: str) -> ScimGroupRow:
        for row in groups:
            if row["id"] == ident:
                return row
        raise NotFoundException(detail=f"no group {ident} in this SCIM connection")

    @staticmethod
    def _parse_group(body: Any, scim_ctx: Context) -> Group:
        if not isinstance(body, dict):
            raise InvalidValueException(detail="the body must be a JSON object")
        try:
            return Group.model_validate(body, scim_ctx=scim_ctx)
        except SCIMException:
            raise
        except ValueError as error:
            raise _validation_error(error) from None

    @staticmethod
    def _parse_patch(model: Any, body: Any) -> Any:
        if not isinstance(body, dict):
            raise InvalidValueException(detail="the body must be a JSON object")
        try:
            return model.model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        except SCIMException:
            raise
        except ValueError as error:
            raise _validation_error(error) from None

    def _set_members(
        self,
        tx: WriteTx,
        ctx: ScimContext,
        group_id: str,
        group: Group,
        before: list[str],
        now: dt.datetime,
    ) -> list[str]:
        """Make the group's members those `group` lists; update each affected member's group ids."""
        wanted = [str(m.value) for m in group.members or [] if m.value]
        users = {u["member_id"] for u in self.store.scim_users(tx, ctx.connection["id"])}
        unknown = [m for m in wanted if m not in users]
        if unknown:
            raise _invalid(f"no user {unknown[0]} in this SCIM connection")
        self.store.set_scim_group_members(tx, group_id, wanted)
        for member_id in set(before) ^ set(wanted):
            self._sync_member_groups(tx, ctx, member_id, now)
        return list(dict.fromkeys(wanted))

    def _sync_member_groups(
        self, tx: WriteTx, ctx: ScimContext, member_id: str, now: dt.datetime
    ) -> None:
        member = self.store.find_member(tx, ctx.connection["organization_id"], member_id)
        if member is None or not member.get("scim"):
            return
        group_ids = sorted(
            g
            for g, members in self.store.scim_group_members(tx, ctx.connection["id"]).items()
            if member_id in members
        )
        scim = {**(member.get("scim") or {}), "group_ids": group_ids}
        if scim.get("scim_attributes"):
            refs = self._group_refs(tx, ctx, group_ids)
            scim["scim_attributes"] = {**scim["scim_attributes"], "groups": refs}
        self.store.update_member(tx, member_id, {"scim": scim, "updated_at": now})

    def _group_refs(self, tx: ReadTx, ctx: ScimContext, group_ids: list[str]) -> list[JsonObject]:
        names = {
            g["id"]: g["display_name"] for g in self.store.scim_groups(tx, ctx.connection["id"])
        }
        return [{"value": g, "display": names.get(g, "")} for g in group_ids]

    @staticmethod
    def _stored_group(group: Group) -> JsonObject:
        dumped = group.model_dump(scim_ctx=Context.DEFAULT)
        for key in ("id", "meta", "members", "displayName"):
            dumped.pop(key, None)
        dumped["memberDisplays"] = [
            {"value": m.value, "display": m.display} for m in group.members or [] if m.display
        ]
        return dumped

    def list_groups(
        self,
        ctx: ScimContext,
        filter_text: str | None,
        start_index: int,
        count: int | None,
        params: Any = None,
    ) -> JsonObject:
        with self.store.read() as tx:
            groups, members, names = self._groups(tx, ctx)
        resources = [self._group_resource(ctx, g, members.get(g["id"], []), names) for g in groups]
        return self._page(self._filtered(Group, resources, filter_text), start_index, count, params)

    def get_group(self, ctx: ScimContext, ident: str, params: Any = None) -> JsonObject:
        with self.store.read() as tx:
            groups, members, names = self._groups(tx, ctx)
        row = self._find_group(groups, ident)
        return self._group_resource(ctx, row, members.get(ident, []), names).model_dump(
            scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params
        )

    def create_group(self, ctx: ScimContext, body: Any, params: Any = None) -> JsonObject:
        group = self._parse_group(body, Context.RESOURCE_CREATION_REQUEST)
        now = clock.now()
        environment_id = ctx.connection["environment_id"]
        row: ScimGroupRow = {
            "id": ids.new_id("scim-group", ids.environment_kind(environment_id)),
            "connection_id": ctx.connection["id"],
            "display_name": str(group.display_name or ""),
            "resource": self._stored_group(group),
            "created_at": now,
            "updated_at": now,
        }
        with self.store.transaction() as tx:
            self.store.insert_scim_group(tx, row)
            member_ids = self._set_members(tx, ctx, row["id"], group, [], now)
            self._event(
                tx,
                ctx,
                "scim.group.create",
                row["id"],
                {"displayName": row["display_name"], "members": member_ids},
            )
            _, members, names = self._groups(tx, ctx)
        return self._group_resource(ctx, row, members.get(row["id"], []), names).model_dump(
            scim_ctx=Context.RESOURCE_CREATION_RESPONSE, response_parameters=params
        )

    def _save_group(
        self, ctx: ScimContext, ident: str, change: Any, action: str, params: Any = None
    ) -> JsonObject:
        now = clock.now()
        with self.store.transaction() as tx:
            groups, members, names = self._groups(tx, ctx)
            row = self._find_group(groups, ident)
            before = members.get(ident, [])
            group: Group = change(self._group_resource(ctx, row, before, names))
            if not group.display_name:
                raise _invalid("a group needs a `displayName`")
            stored = self._stored_group(group)
            self.store.update_scim_group(tx, ident, str(group.display_name), stored, now)
            member_ids = self._set_members(tx, ctx, ident, group, before, now)
            self._event(
                tx, ctx, action, ident, {"displayName": group.display_name, "members": member_ids}
            )
            updated: ScimGroupRow = {
                **row,
                "display_name": str(group.display_name),
                "resource": stored,
                "updated_at": now,
            }
        return self._group_resource(ctx, updated, member_ids, names).model_dump(
            scim_ctx=Context.RESOURCE_REPLACEMENT_RESPONSE, response_parameters=params
        )

    def replace_group(
        self, ctx: ScimContext, ident: str, body: Any, params: Any = None
    ) -> JsonObject:
        replacement = self._parse_group(body, Context.RESOURCE_REPLACEMENT_REQUEST)

        def change(current: Group) -> Group:
            replacement.id = current.id
            return replacement

        return self._save_group(ctx, ident, change, "scim.group.replace", params)

    def patch_group(
        self, ctx: ScimContext, ident: str, body: Any, params: Any = None
    ) -> JsonObject:
        patch = self._parse_patch(PatchOp[Group], body)

        def change(current: Group) -> Group:
            patch.patch(current)
            return current

        return self._save_group(ctx, ident, change, "scim.group.patch", params)

    def delete_group(self, ctx: ScimContext, ident: str) -> None:
        now = clock.now()
        with self.store.transaction() as tx:
            groups, members, _ = self._groups(tx, ctx)
            row = self._find_group(groups, ident)
            self.store.delete_scim_group(tx, row["id"])
            for member_id in members.get(ident, []):
                self._sync_member_groups(tx, ctx, member_id, now)
            # A rule for a deleted group grants nothing; drop it from the connection (read in
            # this transaction: the context's copy may be older).
            current = self.store.scim_connection_by_id(tx, ctx.connection["id"])
            if current is not None:
                rules = [r for r in current["group_roles"] if r["group_id"] != ident]
                if rules != current["group_roles"]:
                    values: ScimConnectionValues = {"group_roles": rules, "updated_at": now}
                    self.store.update_scim_connection(tx, current["id"], values)
                    self.connections.summarise(tx, self._org(tx, ctx), {**current, **values})
            self._event(tx, ctx, "scim.group.delete", row["id"])

    # -- listing -----------------------------------------------------------------------

    @staticmethod
    def _filtered(model: Any, resources: list[Any], filter_text: str | None) -> list[Any]:
        if not filter_text:
            return resources
        try:
            bound = ScimFilter[model](filter_text)
        except SCIMException:
            raise
        except ValueError as error:
            raise InvalidFilterException(detail=str(error)) from None
        return [r for r in resources if bound.match(r)]

    @staticmethod
    def _page(
        resources: list[Any], start_index: int, count: int | None, params: Any = None
    ) -> JsonObject:
        start = max(start_index, 1)
        size = MAX_RESULTS if count is None else max(0, min(count, MAX_RESULTS))
        page = resources[start - 1 : start - 1 + size]
        dumped = [
            r.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=params) for r in page
        ]
        return {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(resources),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": dumped,
        }
