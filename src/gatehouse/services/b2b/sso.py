"""SAML SSO, as the official `stytch` SDK calls it: connections (`sso.saml.*`,
`sso.get_connections`, `sso.delete_connection`), the browser flow (`/v1/public/sso/start` →
the IdP → the ACS) and `sso.authenticate`, which signs the member in with an `sso_saml` factor.

A connection is `pending` until its IdP settings are complete (`idp_entity_id`, `idp_sso_url`,
an `attribute_mapping` with `email`, and a verification certificate), then `active`. Each
connection has its own SP signing key (sealed at rest) and certificate. With a member session
header, create / update / delete need the `stytch.sso` actions of the same names.

The ACS verifies the response with pysaml2 (services/b2b/saml.py); here: an `InResponseTo` must
name an AuthnRequest this server issued for this connection, unused and unexpired (spent in the
same transaction as the sign-in); without one the response is IdP-initiated, refused when the
connection disables that; an assertion id is accepted once. The member is found by their
registration with the connection (the IdP's NameID), else by email, else created when the
organization's `sso_jit_provisioning` allows it. The ACS then redirects to the app with a one-time
`sso` token (a digest stored), spent by `sso.authenticate`.

OIDC connections live in services/b2b/oidc.py; this module lists, deletes and starts both kinds,
and `sso.authenticate` names the factor after the registration's connection (`sso_oidc`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

from gatehouse.errors import (
    Code,
    Denied,
    Duplicate,
    GatehouseError,
    InvalidInput,
    Kind,
    NotFound,
    Unauthorized,
)
from gatehouse.policy import Problem
from gatehouse.policy.defaults import SSO
from gatehouse.services import clock, events, ids, outbound, redirects
from gatehouse.services.b2b import enforcement, org_rules, saml
from gatehouse.services.b2b.email_flows import pkce_challenge, with_query
from gatehouse.services.b2b.members import Members
from gatehouse.services.b2b.oidc import Connection as OidcConnection
from gatehouse.services.b2b.oidc import OidcService
from gatehouse.services.b2b.roles import role_exists
from gatehouse.services.b2b.sessions import Sessions, check_custom_claims
from gatehouse.services.context import Caller, Environment, MemberView, SignIn
from gatehouse.services.security import credentials
from gatehouse.storage.interface import (
    EmailFlowStore,
    EventStore,
    MemberStore,
    OrganizationStore,
    ReadTx,
    SessionStore,
    SsoStore,
    Transactions,
    WriteTx,
)
from gatehouse.storage.rows import (
    MemberRow,
    OidcConnectionRow,
    OrganizationRow,
    SamlConnectionRow,
    SsoRegistrationRow,
)


class _Store(
    Transactions,
    OrganizationStore,
    MemberStore,
    SessionStore,
    EventStore,
    EmailFlowStore,
    SsoStore,
    Protocol,
):
    """The storage this service uses."""


SSO_TOKEN_TYPE = "sso"
SSO_TOKEN_MINUTES = 10
AUTHN_REQUEST_MINUTES = 10
_T = TypeVar("_T")
_CONFIG_FIELDS = (
    "display_name",
    "identity_provider",
    "idp_entity_id",
    "idp_sso_url",
    "attribute_mapping",
    "saml_connection_implicit_role_assignments",
    "saml_group_implicit_role_assignments",
    "alternative_audience_uri",
    "nameid_format",
    "alternative_acs_url",
    "idp_initiated_auth_disabled",
    "allow_gateway_callback",
)


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection with the URLs derived from the server's public URL."""

    row: SamlConnectionRow
    acs_url: str
    audience_uri: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    sign_in: SignIn
    view: MemberView


def _unable() -> GatehouseError:
    return Unauthorized(
        "the SSO token is unknown, was already used or has expired; sign in again",
        code=Code.UNABLE_TO_AUTH_SSO_TOKEN,
    )


def is_active(config: dict[str, Any]) -> bool:
    mapping = config.get("attribute_mapping") or {}
    return bool(
        config.get("idp_entity_id")
        and config.get("idp_sso_url")
        and config.get("verification_certificates")
        and mapping.get("email")
    )


def sso_factor(
    connection_id: str, registration: SsoRegistrationRow, kind: str = "saml"
) -> dict[str, Any]:
    """The session factor of a sign-in through a connection of `kind` (`saml` or `oidc`)."""
    now = clock.iso(clock.now())
    return {
        "type": "sso",
        "delivery_method": f"sso_{kind}",
        "last_authenticated_at": now,
        "created_at": now,
        "updated_at": now,
        f"{kind}_sso_factor": {
            "id": registration["id"],
            "provider_id": connection_id,
            "external_id": registration["external_id"],
        },
    }


class SsoService:
    def __init__(self, members: Members, sessions: Sessions) -> None:
        self.members = members
        self.sessions = sessions
        self.runtime = members.runtime
        self.organizations = members.organizations
        self.store: _Store = self.runtime.store
        self.oidc = OidcService(self)

    # -- connections -----------------------------------------------------------------------

    def describe(self, row: SamlConnectionRow) -> Connection:
        base = self.runtime.settings.public_url.rstrip("/")
        return Connection(
            row,
            f"{base}/v1/b2b/sso/callback/{row['id']}",
            f"{base}/v1/b2b/sso/saml/metadata/{row['id']}",
        )

    def _require(self, caller: Caller, org: OrganizationRow, action: str) -> None:
        session = caller.session
        if session is None:
            return
        enforcement.require_tenancy(caller, org)
        compiled = self.runtime.compiled_for_org(caller.environment, org)
        if not compiled.check(session.roles, SSO, action):
            raise Denied(f"the session's member is not permitted: missing `{action}` on `{SSO}`")

    def _connection(
        self, tx: ReadTx, environment: Environment, org: OrganizationRow, connection_id: str
    ) -> SamlConnectionRow:
        row = self.store.get_saml_connection(tx, environment.id, connection_id)
        if row is None or row["organization_id"] != org["id"]:
            raise NotFound(Kind.SSO_CONNECTION, connection_id)
        return row

    def _sync_org(self, tx: WriteTx, org: OrganizationRow, deleted: str | None = None) -> None:
        """Keep the organization's `sso_active_connections` (and, for a deleted connection,
        its SSO settings) in step with its connections."""
        active = [
            {
                "connection_id": c["id"],
                "display_name": c["config"].get("display_name", ""),
                "identity_provider": c["config"].get("identity_provider", "generic"),
            }
            for c in [
                *self.store.saml_connections(tx, org["id"]),
                *self.store.oidc_connections(tx, org["id"]),
            ]
            if c["status"] == "active"
        ]
        settings = {**org["settings"], "sso_active_connections": active}
        if deleted is not None:
            if settings.get("sso_default_connection_id") == deleted:
                settings["sso_default_connection_id"] = None
            allowed = settings.get("sso_jit_provisioning_allowed_connections") or []
            settings["sso_jit_provisioning_allowed_connections"] = [
                c for c in allowed if c != deleted
            ]
        if settings != org["settings"]:
            self.store.update_organization(
                tx, org["id"], {"settings": settings, "updated_at": clock.now()}
            )

    def get_connections(
        self, caller: Caller, org_ident: str
    ) -> tuple[list[Connection], list[OidcConnection]]:
        """The organization's (SAML, OIDC) connections."""
        with self.store.read() as tx:
            org = self.organizations.find(tx, caller.environment, org_ident)
            enforcement.require_tenancy(caller, org)
            return (
                [self.describe(r) for r in self.store.saml_connections(tx, org["id"])],
                [self.oidc.describe(r) for r in self.store.oidc_connections(tx, org["id"])],
            )

    def create(self, caller: Caller, org_ident: str, fields: dict[str, Any]) -> Connection:
        environment = caller.environment
        now = clock.now()
        connection_id = ids.new_id("saml-connection", environment.kind)
        key_pem, cert_pem = saml.new_signing_key(connection_id, now)
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            self._require(caller, org, "create")
            config: dict[str, Any] = {
                "display_name": fields.get("display_name", ""),
                "identity_provider": fields.get("identity_provider", "generic"),
                "idp_entity_id": "",
                "idp_sso_url": "",
                "attribute_mapping": None,
                "verification_certificates": [],
                "signing_certificates": [_cert_entry(cert_pem, now, "Gatehouse")],
                "encryption_private_keys": [],
                "saml_connection_implicit_role_assignments": [],
                "saml_group_implicit_role_assignments": [],
                "alternative_audience_uri": "",
                "nameid_format": saml.NAMEID_EMAIL,
                "alternative_acs_url": "",
                "idp_initiated_auth_disabled": False,
                "allow_gateway_callback": False,
            }
            row: SamlConnectionRow = {
                "id": connection_id,
                "environment_id": environment.id,
                "organization_id": org["id"],
                "status": "pending",
                "config": config,
                "signing_key": self.runtime.sealer.seal(key_pem),
                "created_at": now,
                "updated_at": now,
            }
            self.store.insert_saml_connection(tx, row)
            events.record_call(self.store, tx, caller, "sso.saml.create", connection_id, fields)
            return self.describe(row)

    def update(
        self, caller: Caller, org_ident: str, connection_id: str, fields: dict[str, Any]
    ) -> Connection:
        environment = caller.environment
        now = clock.now()
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            self._require(caller, org, "update")
            row = self._connection(tx, environment, org, connection_id)
            config = dict(row["config"])
            self._check_update(environment, org, config, fields)
            values: dict[str, Any] = {}
            for name in _CONFIG_FIELDS:
                if name in fields:
                    config[name] = fields[name]
            if "x509_certificate" in fields:
                entry = _cert_entry(fields["x509_certificate"], now)
                if all(
                    c["certificate"] != entry["certificate"]
                    for c in config["verification_certificates"]
                ):
                    config["verification_certificates"] = [
                        *config["verification_certificates"],
                        entry,
                    ]
            if "signing_private_key" in fields:
                key = saml.load_private_key(fields["signing_private_key"], "signing_private_key")
                config["signing_certificates"] = [
                    _cert_entry(saml.certificate_for(key, row["id"], now), now, "Gatehouse")
                ]
                values["signing_key"] = self.runtime.sealer.seal(fields["signing_private_key"])
            if "saml_encryption_private_key" in fields:
                key = saml.load_private_key(
                    fields["saml_encryption_private_key"], "saml_encryption_private_key"
                )
                config["encryption_private_keys"] = [
                    *config["encryption_private_keys"],
                    {
                        "private_key_id": ids.new_id("saml-private-key", environment.kind),
                        "private_key": self.runtime.sealer.seal(
                            fields["saml_encryption_private_key"]
                        ),
                        # What the SP metadata publishes for IdPs to encrypt to (public).
                        "certificate": saml.certificate_for(key, row["id"], now),
                        "created_at": clock.iso(now),
                    },
                ]
            return self._save(tx, caller, org, row, config, values, "sso.saml.update", fields)

    def _save(
        self,
        tx: WriteTx,
        caller: Caller,
        org: OrganizationRow,
        row: SamlConnectionRow,
        config: dict[str, Any],
        values: dict[str, Any],
        action: str,
        changes: dict[str, Any],
    ) -> Connection:
        status = "active" if is_active(config) else "pending"
        values = {**values, "config": config, "status": status, "updated_at": clock.now()}
        self.store.update_saml_connection(tx, row["id"], values)
        updated: SamlConnectionRow = {**row, **values}  # type: ignore[typeddict-item]
        self._sync_org(tx, org)
        events.record_call(
            self.store,
            tx,
            caller,
            action,
            row["id"],
            {**_logged(changes), "status": status},
        )
        return self.describe(updated)

    def _check_update(
        self,
        environment: Environment,
        org: OrganizationRow,
        config: dict[str, Any],
        fields: dict[str, Any],
    ) -> None:
        problems = []
        for key in (
            "saml_connection_implicit_role_assignments",
            "saml_group_implicit_role_assignments",
        ):
            for i, rule in enumerate(fields.get(key) or []):
                if not role_exists(environment, org, rule["role_id"]):
                    problems.append(
                        Problem(
                            f"{key}[{i}].role_id",
                            f"role `{rule['role_id']}` does not exist in the project or "
                            "organization policy",
                        )
                    )
        if problems:
            raise InvalidInput(
                "; ".join(f"{p.path}: {p.reason}" for p in problems),
                code=Code.ROLE_NOT_FOUND,
            )
        mapping = fields.get("attribute_mapping", config.get("attribute_mapping")) or {}
        if fields.get("saml_group_implicit_role_assignments") and "groups" not in mapping:
            raise InvalidInput(
                "`saml_group_implicit_role_assignments` needs a `groups` key in the "
                "connection's `attribute_mapping`",
                code=Code.INVALID_REQUEST,
            )
        if "attribute_mapping" in fields and "email" not in fields["attribute_mapping"]:
            raise InvalidInput(
                "`attribute_mapping` must map `email` (and `full_name`, or `first_name` and "
                "`last_name`)",
                code=Code.INVALID_REQUEST,
            )
        for name in ("idp_sso_url", "alternative_acs_url", "alternative_audience_uri"):
            if fields.get(name) and name != "alternative_audience_uri":
                parts = urlsplit(fields[name])
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise InvalidInput(
                        f"`{name}` must be an http(s) URL", code=Code.INVALID_REQUEST
                    )
        if "x509_certificate" in fields:
            saml.read_certificate(fields["x509_certificate"])

    def update_by_url(
        self, caller: Caller, org_ident: str, connection_id: str, metadata_url: str
    ) -> Connection:
        environment = caller.environment
        with self.store.read() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            self._require(caller, org, "update")
            self._connection(tx, environment, org, connection_id)
        settings = saml.parse_idp_metadata(
            fetch_metadata(metadata_url, self.runtime.settings.outbound_allow_private_networks)
        )
        now = clock.now()
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            row = self._connection(tx, environment, org, connection_id)
            config = dict(row["config"])
            config["idp_entity_id"] = settings.entity_id
            config["idp_sso_url"] = settings.sso_url
            known = {c["certificate"] for c in config["verification_certificates"]}
            config["verification_certificates"] = [
                *config["verification_certificates"],
                *(_cert_entry(pem, now) for pem in settings.certificates if pem not in known),
            ]
            return self._save(
                tx,
                caller,
                org,
                row,
                config,
                {},
                "sso.saml.update_by_url",
                {"metadata_url": metadata_url},
            )

    def delete_certificate(
        self, caller: Caller, org_ident: str, connection_id: str, certificate_id: str
    ) -> str:
        return self._delete_item(
            caller,
            org_ident,
            connection_id,
            "verification_certificates",
            "certificate_id",
            certificate_id,
        )

    def delete_private_key(
        self, caller: Caller, org_ident: str, connection_id: str, private_key_id: str
    ) -> str:
        return self._delete_item(
            caller,
            org_ident,
            connection_id,
            "encryption_private_keys",
            "private_key_id",
            private_key_id,
        )

    def _delete_item(
        self,
        caller: Caller,
        org_ident: str,
        connection_id: str,
        list_name: str,
        id_name: str,
        item_id: str,
    ) -> str:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            self._require(caller, org, "update")
            row = self._connection(tx, environment, org, connection_id)
            config = dict(row["config"])
            kept = [c for c in config[list_name] if c[id_name] != item_id]
            if len(kept) == len(config[list_name]):
                raise NotFound(Kind.SAML_CERTIFICATE, item_id)
            config[list_name] = kept
            self._save(
                tx,
                caller,
                org,
                row,
                config,
                {},
                f"sso.saml.delete_{'verification_certificate' if id_name == 'certificate_id' else 'encryption_private_key'}",
                {id_name: item_id},
            )
            return item_id

    def delete(self, caller: Caller, org_ident: str, connection_id: str) -> str:
        environment = caller.environment
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            self._require(caller, org, "delete")
            oidc = self.store.get_oidc_connection(tx, environment.id, connection_id)
            if oidc is not None and oidc["organization_id"] == org["id"]:
                row: SamlConnectionRow | OidcConnectionRow = oidc
                self.store.delete_oidc_connection(tx, oidc["id"])
            else:
                row = self._connection(tx, environment, org, connection_id)
                self.store.delete_saml_connection(tx, row["id"])
            self._sync_org(tx, org, deleted=row["id"])
            events.record_call(self.store, tx, caller, "sso.delete", row["id"], {})
            return row["id"]

    # -- the browser flow ------------------------------------------------------------------

    def _environment(self, tx: ReadTx, environment_id: str) -> Environment:
        environment = self.runtime.load_environment(tx, environment_id)
        if environment is None:
            raise NotFound(Kind.PROJECT, environment_id)
        return environment

    def _sp(self, connection: Connection) -> saml.Sp:
        row, config = connection.row, connection.row["config"]
        sealer = self.runtime.sealer
        signing = config.get("signing_certificates") or []
        return saml.Sp(
            [u for u in (connection.audience_uri, config.get("alternative_audience_uri")) if u],
            [u for u in (connection.acs_url, config.get("alternative_acs_url")) if u],
            config["idp_entity_id"],
            config["idp_sso_url"],
            [c["certificate"] for c in config["verification_certificates"]],
            config.get("nameid_format") or saml.NAMEID_EMAIL,
            signing_key=sealer.open(row["signing_key"]) if signing else "",
            signing_certificate=signing[0]["certificate"] if signing else "",
            encryption_keys=[
                sealer.open(k["private_key"]) for k in config.get("encryption_private_keys") or []
            ],
        )

    def _encryption_certificates(self, row: SamlConnectionRow) -> list[str]:
        """The certificates of the connection's encryption keys (one made from the key for an
        entry saved before certificates were kept)."""
        found = []
        for entry in row["config"].get("encryption_private_keys") or []:
            if entry.get("certificate"):
                found.append(entry["certificate"])
            else:
                key = saml.load_private_key(
                    self.runtime.sealer.open(entry["private_key"]), "saml_encryption_private_key"
                )
                found.append(saml.certificate_for(key, row["id"], clock.now()))
        return found

    def sp_metadata(self, connection_id: str) -> str:
        """The connection's SP metadata document, served at its `audience_uri` (public)."""
        with self.store.read() as tx:
            row = self.store.get_saml_connection(tx, None, connection_id)
        if row is None:
            raise NotFound(Kind.SSO_CONNECTION, connection_id)
        connection = self.describe(row)
        return saml.sp_metadata(
            self._sp(connection),
            [c["certificate"] for c in row["config"]["signing_certificates"]],
            self._encryption_certificates(row),
        )

    def start(self, fields: dict[str, Any]) -> str:
        """`GET /v1/public/sso/start`: the IdP URL (with the AuthnRequest, or for an OIDC
        connection the authorization request) to redirect to."""
        with self.store.read() as tx:
            row = self._start_connection(tx, fields)
            if row["status"] != "active":
                raise InvalidInput(
                    f"SSO connection `{row['id']}` is pending: its IdP settings are not complete",
                    code=Code.SSO_CONNECTION_INACTIVE,
                )
            # The redirect URLs are checked now, so that a bad one fails before the IdP.
            login = redirects.resolve(
                self.store, tx, row["environment_id"], "LOGIN", fields.get("login_redirect_url")
            )
            signup = redirects.resolve(
                self.store, tx, row["environment_id"], "SIGNUP", fields.get("signup_redirect_url")
            )
        if "client_secret" in row:  # an OIDC connection
            return self.oidc.start(cast(OidcConnectionRow, row), fields, login, signup)
        connection = self.describe(row)
        request_id, location = saml.authn_request(self._sp(connection))
        now = clock.now()
        with self.store.transaction() as tx:
            self.store.insert_saml_request(
                tx,
                {
                    "id": request_id,
                    "environment_id": row["environment_id"],
                    "connection_id": row["id"],
                    "pkce_challenge": fields.get("pkce_code_challenge"),
                    "login_redirect_url": login,
                    "signup_redirect_url": signup,
                    "created_at": now,
                    "expires_at": now + dt.timedelta(minutes=AUTHN_REQUEST_MINUTES),
                    "used_at": None,
                },
            )
        return location

    def _start_connection(
        self, tx: ReadTx, fields: dict[str, Any]
    ) -> SamlConnectionRow | OidcConnectionRow:
        if fields.get("connection_id"):
            row: SamlConnectionRow | OidcConnectionRow | None = self.store.get_saml_connection(
                tx, None, fields["connection_id"]
            ) or self.store.get_oidc_connection(tx, None, fields["connection_id"])
            if row is None:
                raise NotFound(Kind.SSO_CONNECTION, fields["connection_id"])
            return row
        org_ident = fields.get("organization_id") or fields.get("organization_slug")
        if not org_ident or not fields.get("public_token"):
            raise InvalidInput(
                "pass `connection_id`, or `organization_id` (or `organization_slug`) with "
                "`public_token` (the project id)",
                code=Code.INVALID_REQUEST,
            )
        environment = self._environment(tx, fields["public_token"])
        org = self.organizations.find(tx, environment, org_ident)
        connections: list[SamlConnectionRow | OidcConnectionRow] = [
            *self.store.saml_connections(tx, org["id"]),
            *self.store.oidc_connections(tx, org["id"]),
        ]
        default = org["settings"].get("sso_default_connection_id")
        chosen = next((c for c in connections if c["id"] == default), None)
        if chosen is None:
            active = [c for c in connections if c["status"] == "active"]
            if len(active) != 1:
                raise InvalidInput(
                    f"organization `{org['id']}` has no default SSO connection and "
                    f"{len(active)} active ones: pass `connection_id`",
                    code=Code.INVALID_REQUEST,
                )
            chosen = active[0]
        return chosen

    def acs(self, connection_id: str, saml_response: str) -> str:
        """The IdP's POST to the ACS: the app URL (with a one-time `sso` token) to redirect to."""
        with self.store.read() as tx:
            row = self.store.get_saml_connection(tx, None, connection_id)
            if row is None:
                raise NotFound(Kind.SSO_CONNECTION, connection_id)
            if row["status"] != "active":
                raise InvalidInput(
                    f"SSO connection `{row['id']}` is pending", code=Code.SSO_CONNECTION_INACTIVE
                )
            environment = self._environment(tx, row["environment_id"])
        connection = self.describe(row)
        verified = saml.verify_response(self._sp(connection), saml_response, True)
        config = row["config"]
        now = clock.now()
        caller = Caller(environment, f"sso:{row['id']}")

        def write() -> tuple[str, bool, str | None, str | None]:
            with self.store.transaction() as tx:
                if verified.in_response_to is not None:
                    issued = self.store.find_saml_request(tx, verified.in_response_to)
                    if (
                        issued is None
                        or issued["connection_id"] != row["id"]
                        or issued["expires_at"] <= now
                        or not self.store.use_saml_request(tx, issued["id"], now)
                    ):
                        raise saml.invalid("answers a request this server did not issue")
                    login_url, signup_url = (
                        issued["login_redirect_url"],
                        issued["signup_redirect_url"],
                    )
                    pkce = issued["pkce_challenge"]
                else:
                    if config.get("idp_initiated_auth_disabled"):
                        raise Denied(
                            f"SSO connection `{row['id']}` does not allow IdP-initiated sign-in",
                            code=Code.IDP_INITIATED_AUTH_DISABLED,
                        )
                    login_url = redirects.resolve(self.store, tx, environment.id, "LOGIN", None)
                    signup_url = redirects.resolve(self.store, tx, environment.id, "SIGNUP", None)
                    pkce = None
                if not self.store.remember_assertion(
                    tx, row["id"], verified.assertion_id, verified.expires_at, now
                ):
                    raise saml.invalid("was already used")
                org = self.store.find_organization(tx, environment.id, row["organization_id"])
                assert org is not None
                member, registration, created = self._member_for(tx, caller, org, row, verified)
                token = self.issue_token(tx, environment, member, registration, pkce)
                events.record_call(
                    self.store,
                    tx,
                    caller,
                    "sso.saml.assertion_accepted",
                    member["id"],
                    {
                        "connection_id": row["id"],
                        "idp_initiated": verified.in_response_to is None,
                        "member_created": created,
                    },
                )
                return token, created, login_url, signup_url

        token, created, login_url, signup_url = self.sign_in_once_more_on_a_race(write)
        url = signup_url if created and signup_url else login_url
        return with_query(url or "", stytch_token_type=SSO_TOKEN_TYPE, token=token)

    def sign_in_once_more_on_a_race(self, write: Callable[[], _T]) -> _T:
        """Run a sign-in's transaction (`write`), and once more when it lost a race to create
        the same member or registration (two tabs signing a new person in at once): the second
        run finds what the winner made, so both sign in. A duplicate that is still there on the
        second run is the 409 it is."""
        try:
            return write()
        except Duplicate:
            return write()

    def issue_token(
        self,
        tx: WriteTx,
        environment: Environment,
        member: MemberRow,
        registration: SsoRegistrationRow,
        pkce: str | None,
    ) -> str:
        """A one-time `sso` token for the app, spent by `sso.authenticate` (its digest kept)."""
        now = clock.now()
        token = credentials.new_token()
        self.store.insert_sso_token(
            tx,
            {
                "id": ids.new_id("sso-token", environment.kind),
                "environment_id": environment.id,
                "token_hash": credentials.token_digest(token),
                "member_id": member["id"],
                "registration_id": registration["id"],
                "pkce_challenge": pkce,
                "created_at": now,
                "expires_at": now + dt.timedelta(minutes=SSO_TOKEN_MINUTES),
                "used_at": None,
            },
        )
        return token

    def _member_for(
        self,
        tx: WriteTx,
        caller: Caller,
        org: OrganizationRow,
        connection: SamlConnectionRow,
        verified: saml.Verified,
    ) -> tuple[MemberRow, SsoRegistrationRow, bool]:
        mapping = connection["config"].get("attribute_mapping") or {}
        attributes = verified.attributes

        def first(key: str) -> str:
            name = mapping.get(key)
            values = attributes.get(name, []) if name else []
            return values[0] if values else ""

        email = first("email") or (verified.name_id if "@" in verified.name_id else "")
        if not email or "@" not in email:
            raise saml.invalid("carries no email address")
        name = first("full_name") or " ".join(
            p for p in (first("first_name"), first("last_name")) if p
        )
        groups_name = mapping.get("groups")
        sso_attributes: dict[str, Any] = {
            "email": email,
            "name": name,
            "groups": list(attributes.get(groups_name, [])) if groups_name else [],
        }
        return self.member_for(tx, caller, org, connection["id"], verified.name_id, sso_attributes)

    def member_for(
        self,
        tx: WriteTx,
        caller: Caller,
        org: OrganizationRow,
        connection_id: str,
        external_id: str,
        sso_attributes: dict[str, Any],
    ) -> tuple[MemberRow, SsoRegistrationRow, bool]:
        """The member an IdP vouched for (`sso_attributes`: `email`, `name`, `groups`): by their
        registration with the connection (`external_id`, the IdP's subject), else by email, else
        created when the organization's `sso_jit_provisioning` allows it; their registration
        made or refreshed. Returns (member, registration, created)."""
        email, name = sso_attributes["email"], sso_attributes["name"]
        now = clock.now()
        registration = self.store.find_sso_registration(tx, connection_id, external_id)
        created = False
        member: MemberRow | None = None
        if registration is not None:
            member = self.store.get_member_by_id(
                tx, org["environment_id"], registration["member_id"]
            )
        if member is None:
            member = self.store.find_member_by_email(tx, org["id"], email)
        if member is None or member["status"] == "deleted":
            if not _jit_allowed(org, connection_id):
                raise Denied(
                    f"`{email}` is not a member of organization `{org['id']}` and its "
                    "`sso_jit_provisioning` does not let them join through this connection",
                    code=Code.SSO_JIT_PROVISIONING_NOT_ALLOWED,
                )
            member = self.members.new_member_row(
                caller.environment, org, email, {"name": name} if name else {}, now
            )
            self.store.insert_member(tx, member)
            created = True
            events.record_call(
                self.store,
                tx,
                caller,
                "member.create",
                member["id"],
                {"email_address": email, "by": "sso_jit_provisioning"},
            )
        if registration is None or registration["member_id"] != member["id"]:
            existing = next(
                (
                    r
                    for r in self.store.sso_registrations(tx, [member["id"]])[member["id"]]
                    if r["connection_id"] == connection_id
                ),
                None,
            )
            if existing is not None:
                registration = existing
        if registration is None:
            registration = {
                "id": ids.new_id("registration", caller.environment.kind),
                "environment_id": caller.environment.id,
                "member_id": member["id"],
                "connection_id": connection_id,
                "external_id": external_id,
                "sso_attributes": sso_attributes,
                "created_at": now,
                "updated_at": now,
            }
            self.store.insert_sso_registration(tx, registration)
        else:
            values = {
                "external_id": external_id,
                "sso_attributes": sso_attributes,
                "updated_at": now,
            }
            self.store.update_sso_registration(tx, registration["id"], values)
            registration = cast(SsoRegistrationRow, {**registration, **values})
        return member, registration, created

    def authenticate(self, caller: Caller, fields: dict[str, Any]) -> Authenticated:
        """`sso.authenticate`: spend the token the ACS handed the app; sign the member in."""
        check_custom_claims(fields.get("session_custom_claims"))
        if fields.get("intermediate_session_token"):
            raise InvalidInput(
                "`intermediate_session_token` is not supported here",
                code=Code.UNSUPPORTED_FEATURE,
            )
        environment = caller.environment
        token = fields["sso_token"]
        duration = (
            fields.get("session_duration_minutes") or self.runtime.settings.default_session_minutes
        )
        with self.store.transaction() as tx:
            row = self.store.find_sso_token(tx, environment.id, credentials.token_digest(token))
            now = clock.now()
            if (
                row is None
                or row["used_at"] is not None
                or row["expires_at"] <= now
                or not credentials.digest_matches(token, row["token_hash"])
            ):
                raise _unable()
            challenge, verifier = row["pkce_challenge"], fields.get("pkce_code_verifier")
            if (challenge is None) != (not verifier) or (
                challenge is not None and verifier and pkce_challenge(verifier) != challenge
            ):
                raise InvalidInput(
                    "the pkce code verifier is missing or does not match the sign-in's challenge",
                    code=Code.PKCE_MISMATCH,
                )
            member = self.store.get_member_by_id(tx, environment.id, row["member_id"])
            registration = self.store.get_sso_registration(tx, row["registration_id"])
            if member is None or member["status"] == "deleted" or registration is None:
                raise _unable()
            org = self.store.find_organization(tx, environment.id, member["organization_id"])
            assert org is not None
            enforcement.require_tenancy(caller, org)
            org_rules.require_method(org, org_rules.SSO, member)
            if not self.store.use_sso_token(tx, row["id"], now):
                raise _unable()
            kind = (
                "oidc"
                if self.store.get_oidc_connection(tx, environment.id, registration["connection_id"])
                else "saml"
            )
            factor = sso_factor(registration["connection_id"], registration, kind)
            values: dict[str, Any] = {"updated_at": now, "email_verified": True}
            if member["status"] in ("pending", "invited"):
                values["status"] = "active"
            self.store.update_member(tx, member["id"], values)  # type: ignore[arg-type]
            member = cast(MemberRow, {**member, **values})
            claims = fields.get("session_custom_claims")
            if fields.get("session_token") or fields.get("session_jwt"):
                existing = self.sessions.load(
                    tx,
                    environment,
                    token=fields.get("session_token"),
                    jwt_token=fields.get("session_jwt"),
                )
                if existing.member_id != member["id"]:
                    raise InvalidInput(
                        "the session belongs to another member; sign in without it",
                        code=Code.SESSION_MEMBER_MISMATCH,
                    )
                session_row = self.sessions.add_factor(tx, existing.row, factor, duration, claims)
                session_token = fields.get("session_token") or ""
            else:
                session_row, session_token = self.sessions.start(
                    tx, caller, member, org, factor, duration, claims
                )
            active = self.sessions.signed_in(tx, session_row, session_token, member, org)
            events.record_call(
                self.store,
                tx,
                caller,
                "member.sso_authenticate",
                member["id"],
                {"connection_id": registration["connection_id"]},
            )
            view = self.members.view(tx, member, org)
        return Authenticated(self.sessions.with_jwt(environment, active, session_token), view)


def _jit_allowed(org: OrganizationRow, connection_id: str) -> bool:
    rule = org_rules.setting(org, "sso_jit_provisioning", "ALL_ALLOWED")
    if rule == "ALL_ALLOWED":
        return True
    if rule == "RESTRICTED":
        allowed = org_rules.setting(org, "sso_jit_provisioning_allowed_connections", [])
        return connection_id in allowed
    return False


def _cert_entry(pem: str, now: dt.datetime, issuer: str | None = None) -> dict[str, Any]:
    cert = saml.read_certificate(pem)
    return {
        "certificate_id": "saml-cert-" + secrets.token_hex(12),
        "certificate": cert.pem,
        "issuer": issuer or cert.issuer,
        "created_at": clock.iso(now),
        "expires_at": clock.iso(cert.not_after),
        "updated_at": clock.iso(now),
    }


def _logged(changes: dict[str, Any]) -> dict[str, Any]:
    """What the event log keeps of a change: never a private key."""
    return {
        k: ("[redacted]" if k in ("signing_private_key", "saml_encryption_private_key") else v)
        for k, v in changes.items()
    }


def fetch_metadata(url: str, allow_private_networks: bool) -> bytes:
    """The IdP metadata document at `url` (http or https; at most 1 MiB, 10 seconds), or 400."""

    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"`metadata_url` {why}", code=Code.INVALID_SAML_METADATA)

    try:
        answer = outbound.fetch(url, allow_private_networks=allow_private_networks)
    except outbound.Refused as refused:
        raise InvalidInput(
            f"`metadata_url` {refused}", code=Code.OUTBOUND_URL_NOT_ALLOWED
        ) from None
    except outbound.Failed as failed:
        raise bad(str(failed)) from None
    if answer.status != 200:
        raise bad(f"answered HTTP {answer.status}")
    return answer.body
