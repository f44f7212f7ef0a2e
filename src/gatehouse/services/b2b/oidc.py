"""OIDC SSO, as the official `stytch` SDK calls it: connections (`sso.oidc.create_connection`,
`sso.oidc.update_connection`; listed by `sso.get_connections`, deleted by
`sso.delete_connection`) and the browser flow: `/v1/public/sso/start` → the provider's
authorization endpoint → the callback here → the app, with the one-time `sso` token that
`sso.authenticate` spends (an `sso_oidc` factor). Shared pieces (enforcement, members, tokens)
are services/b2b/sso.py's.

A connection is `pending` until `issuer`, `client_id`, `client_secret` (sealed at rest) and the
four endpoints are known, then `active`. An update that changes `issuer` reads
`{issuer}/.well-known/openid-configuration` for the endpoints; values in the request win, and a
document that cannot be read only adds a `warning` (as Stytch does) — except a URL the outbound
guard refuses (services/outbound.py), which is a 400.

The start sends `response_type=code` with `state` (its digest kept, single use, expiring), a
`nonce`, and PKCE S256 between Gatehouse and the provider. The callback spends the state,
redeems the code at the token endpoint (client_secret_basic, or client_secret_post when the
provider's discovery document offers only that), verifies the ID token with PyJWT against the
provider's JWKS (signature, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`), reads the userinfo
endpoint (same `sub`), and maps the claims through the connection's `attribute_mapping`.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import jwt

from gatehouse.errors import Code, GatehouseError, InvalidInput, Kind, NotFound, Unauthorized
from gatehouse.services import clock, events, ids, outbound
from gatehouse.services.b2b.email_flows import pkce_challenge, with_query
from gatehouse.services.context import Caller
from gatehouse.services.security import credentials
from gatehouse.storage.interface import ReadTx
from gatehouse.storage.rows import OidcConnectionRow, OrganizationRow

if TYPE_CHECKING:
    from gatehouse.services.b2b.sso import SsoService

REQUEST_MINUTES = 10
DEFAULT_SCOPES = "openid email profile"
# Claims read when the connection's attribute_mapping does not name others.
DEFAULT_MAPPING = {
    "email": "email",
    "full_name": "name",
    "first_name": "given_name",
    "last_name": "family_name",
    "groups": "groups",
}
# Asymmetric algorithms only: an ID token "signed" with the client secret (HS*) or none is refused.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
_ENDPOINTS = {
    "authorization_url": "authorization_endpoint",
    "token_url": "token_endpoint",
    "userinfo_url": "userinfo_endpoint",
    "jwks_url": "jwks_uri",
}
_CONFIG_FIELDS = (
    "display_name",
    "identity_provider",
    "client_id",
    "issuer",
    *_ENDPOINTS,
    "custom_scopes",
    "attribute_mapping",
)


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection with its `redirect_url` (the callback, from the server's public URL), its
    client secret as shown, and the `warning` of an update whose discovery failed."""

    row: OidcConnectionRow
    redirect_url: str
    client_secret: str  # as shown: masked (services/b2b/oidc.py masked)
    warning: str | None = None


def is_active(config: dict[str, Any], client_secret: str) -> bool:
    return bool(
        client_secret
        and config.get("issuer")
        and config.get("client_id")
        and all(config.get(name) for name in _ENDPOINTS)
    )


def masked(sealed: str, clear: str | None = None) -> str:
    """What the API shows of a client secret: never the secret; its last four characters when
    it is long enough for them not to give it away."""
    if not sealed:
        return ""
    return "****" + (clear[-4:] if clear and len(clear) >= 16 else "")


def _refused(why: str) -> GatehouseError:
    return Unauthorized(f"OIDC sign-in failed: {why}", code=Code.INVALID_OIDC_RESPONSE)


def _bad_state() -> GatehouseError:
    return InvalidInput(
        "the OIDC `state` is unknown, was already used or has expired; start the sign-in again",
        code=Code.INVALID_OIDC_STATE,
    )


class OidcService:
    def __init__(self, sso: SsoService) -> None:
        self.sso = sso
        self.runtime = sso.runtime
        self.store = sso.store
        self.organizations = sso.organizations

    @property
    def _allow_private(self) -> bool:
        return bool(self.runtime.settings.outbound_allow_private_networks)

    def _fetch(self, what: str, url: str, **options: Any) -> outbound.Answer:
        """`outbound.fetch`, a refused URL a 400 and a failed fetch the caller's to judge."""
        try:
            return outbound.fetch(url, allow_private_networks=self._allow_private, **options)
        except outbound.Refused as refused:
            raise InvalidInput(f"`{what}` {refused}", code=Code.OUTBOUND_URL_NOT_ALLOWED) from None

    # -- connections -----------------------------------------------------------------------

    def redirect_url(self, row: OidcConnectionRow) -> str:
        base = self.runtime.settings.public_url.rstrip("/")
        return f"{base}/v1/b2b/sso/callback/{row['id']}"

    def describe(self, row: OidcConnectionRow, warning: str | None = None) -> Connection:
        sealed = row["client_secret"]
        return Connection(
            row,
            self.redirect_url(row),
            masked(sealed, self.runtime.sealer.open(sealed) if sealed else None),
            warning,
        )

    def _connection(
        self, tx: ReadTx, caller: Caller, org: OrganizationRow, connection_id: str
    ) -> OidcConnectionRow:
        row = self.store.get_oidc_connection(tx, caller.environment.id, connection_id)
        if row is None or row["organization_id"] != org["id"]:
            raise NotFound(Kind.SSO_CONNECTION, connection_id)
        return row

    def create(self, caller: Caller, org_ident: str, fields: dict[str, Any]) -> Connection:
        environment = caller.environment
        now = clock.now()
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            self.sso._require(caller, org, "create")
            config: dict[str, Any] = {
                "display_name": fields.get("display_name", ""),
                "identity_provider": fields.get("identity_provider", "generic"),
                "client_id": "",
                "issuer": "",
                **{name: "" for name in _ENDPOINTS},
                "custom_scopes": "",
                "attribute_mapping": None,
                "token_auth_method": "client_secret_basic",
            }
            row: OidcConnectionRow = {
                "id": ids.new_id("oidc-connection", environment.kind),
                "environment_id": environment.id,
                "organization_id": org["id"],
                "status": "pending",
                "config": config,
                "client_secret": "",
                "created_at": now,
                "updated_at": now,
            }
            self.store.insert_oidc_connection(tx, row)
            events.record_call(self.store, tx, caller, "sso.oidc.create", row["id"], fields)
            return self.describe(row)

    def update(
        self, caller: Caller, org_ident: str, connection_id: str, fields: dict[str, Any]
    ) -> Connection:
        environment = caller.environment
        with self.store.read() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            self.sso._require(caller, org, "update")
            current = self._connection(tx, caller, org, connection_id)
        _check_mapping(fields.get("attribute_mapping"))
        for name in ("issuer", *_ENDPOINTS):
            if name in fields and not _is_url(fields[name]):
                raise InvalidInput(f"`{name}` must be an http(s) URL", code=Code.INVALID_REQUEST)
        discovered: dict[str, str] = {}
        warning = None
        issuer = fields.get("issuer")
        if issuer and issuer != current["config"].get("issuer"):
            discovered, warning = self._discover(issuer)
        with self.store.transaction() as tx:
            org = self.organizations.find(tx, environment, org_ident)
            row = self._connection(tx, caller, org, connection_id)
            config = dict(row["config"])
            config.update(discovered)
            for name in _CONFIG_FIELDS:
                if name in fields:
                    config[name] = fields[name]
            values: dict[str, Any] = {}
            if "client_secret" in fields:
                values["client_secret"] = self.runtime.sealer.seal(fields["client_secret"])
            secret = values.get("client_secret", row["client_secret"])
            status = "active" if is_active(config, secret) else "pending"
            values.update(config=config, status=status, updated_at=clock.now())
            self.store.update_oidc_connection(tx, row["id"], values)
            updated: OidcConnectionRow = {**row, **values}  # type: ignore[typeddict-item]
            self.sso._sync_org(tx, org)
            logged = {k: ("[redacted]" if k == "client_secret" else v) for k, v in fields.items()}
            events.record_call(
                self.store,
                tx,
                caller,
                "sso.oidc.update",
                row["id"],
                {**logged, "discovered": sorted(discovered), "status": status},
            )
            return self.describe(updated, warning)

    def _discover(self, issuer: str) -> tuple[dict[str, str], str | None]:
        """The endpoints `issuer`'s discovery document names, or ({}, why it could not be read)."""
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            answer = self._fetch("issuer", url)
            if answer.status != 200:
                return {}, f"the issuer's discovery document answered HTTP {answer.status}"
            document = answer.json()
        except outbound.Failed as failed:
            return {}, f"the issuer's discovery document {failed}"
        except ValueError:
            return {}, "the issuer's discovery document is not JSON"
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            return {}, "the issuer's discovery document names another issuer"
        found = {
            name: document[key]
            for name, key in _ENDPOINTS.items()
            if isinstance(document.get(key), str) and _is_url(document[key])
        }
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            found["token_auth_method"] = "client_secret_post"
        else:
            found["token_auth_method"] = "client_secret_basic"
        return found, None

    # -- the browser flow ------------------------------------------------------------------

    def start(
        self,
        row: OidcConnectionRow,
        fields: dict[str, Any],
        login_url: str | None,
        signup_url: str | None,
    ) -> str:
        """The provider's authorization URL for this sign-in (the request kept by its state)."""
        config = row["config"]
        state = credentials.new_token()
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        scopes = (config.get("custom_scopes") or DEFAULT_SCOPES).split()
        scopes += (fields.get("custom_scopes") or "").split()
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        now = clock.now()
        with self.store.transaction() as tx:
            self.store.insert_oidc_request(
                tx,
                {
                    "id": credentials.token_digest(state),
                    "environment_id": row["environment_id"],
                    "connection_id": row["id"],
                    "nonce": nonce,
                    "code_verifier": self.runtime.sealer.seal(verifier),
                    "pkce_challenge": fields.get("pkce_code_challenge"),
                    "login_redirect_url": login_url,
                    "signup_redirect_url": signup_url,
                    "created_at": now,
                    "expires_at": now + dt.timedelta(minutes=REQUEST_MINUTES),
                    "used_at": None,
                },
            )
        query = {
            "response_type": "code",
            "client_id": config["client_id"],
            "redirect_uri": self.redirect_url(row),
            "scope": " ".join(dict.fromkeys(scopes)),
            "state": state,
            "nonce": nonce,
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
        base = str(config["authorization_url"])
        return base + ("&" if urlsplit(base).query else "?") + urlencode(query)

    def callback(self, connection_id: str, params: dict[str, str]) -> str:
        """The provider's redirect back (`code`, `state`): the app URL with an `sso` token."""
        state = params.get("state") or ""
        with self.store.read() as tx:
            row = self.store.get_oidc_connection(tx, None, connection_id)
            if row is None:
                raise NotFound(Kind.SSO_CONNECTION, connection_id)
            request = self.store.find_oidc_request(tx, credentials.token_digest(state))
            if (
                not state
                or request is None
                or request["connection_id"] != row["id"]
                or request["used_at"] is not None
                or request["expires_at"] <= clock.now()
            ):
                raise _bad_state()
            if row["status"] != "active":
                raise InvalidInput(
                    f"SSO connection `{row['id']}` is pending", code=Code.SSO_CONNECTION_INACTIVE
                )
            environment = self.sso._environment(tx, row["environment_id"])
        if params.get("error"):
            raise _refused(f"the provider answered `{params['error']}`")
        # RFC 9207: a provider that names itself must be this connection's (mix-up defence).
        if params.get("iss") is not None and params["iss"] != row["config"]["issuer"]:
            raise _refused("the authorization response is from another issuer")
        if not params.get("code"):
            raise InvalidInput("the OIDC callback carries no `code`", code=Code.INVALID_OIDC_STATE)
        verifier = self.runtime.sealer.open(request["code_verifier"])
        tokens = self._redeem(row, params["code"], verifier)
        claims = self._verify(row, tokens.get("id_token"), request["nonce"])
        claims = {**claims, **self._userinfo(row, tokens.get("access_token"), claims["sub"])}
        attributes = _attributes(row["config"].get("attribute_mapping"), claims)
        caller = Caller(environment, f"sso:{row['id']}")

        def write() -> tuple[str, bool]:
            with self.store.transaction() as tx:
                if not self.store.use_oidc_request(tx, request["id"], clock.now()):
                    raise _bad_state()
                org = self.store.find_organization(tx, environment.id, row["organization_id"])
                assert org is not None
                member, registration, created = self.sso.member_for(
                    tx, caller, org, row["id"], str(claims["sub"]), attributes
                )
                token = self.sso.issue_token(
                    tx, environment, member, registration, request["pkce_challenge"]
                )
                events.record_call(
                    self.store,
                    tx,
                    caller,
                    "sso.oidc.callback_accepted",
                    member["id"],
                    {"connection_id": row["id"], "member_created": created},
                )
                return token, created

        token, created = self.sso.sign_in_once_more_on_a_race(write)
        login, signup = request["login_redirect_url"], request["signup_redirect_url"]
        url = signup if created and signup else login
        return with_query(url or "", stytch_token_type="sso", token=token)

    def _redeem(self, row: OidcConnectionRow, code: str, verifier: str) -> dict[str, Any]:
        config = row["config"]
        secret = self.runtime.sealer.open(row["client_secret"])
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_url(row),
            "code_verifier": verifier,
        }
        headers = {"Accept": "application/json"}
        if config.get("token_auth_method") == "client_secret_post":
            data.update(client_id=config["client_id"], client_secret=secret)
        else:
            pair = f"{_form(config['client_id'])}:{_form(secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        try:
            answer = self._fetch(
                "token_url", config["token_url"], method="POST", data=data, headers=headers
            )
            body = answer.json()
        except outbound.Failed as failed:
            raise _refused(f"the token endpoint {failed}") from None
        except ValueError:
            raise _refused("the token endpoint did not answer JSON") from None
        if answer.status != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise _refused(f"the token endpoint refused the code ({error or answer.status})")
        if not isinstance(body.get("id_token"), str):
            raise _refused("the token endpoint answered no `id_token`")
        return body

    def _verify(self, row: OidcConnectionRow, id_token: Any, nonce: str) -> dict[str, Any]:
        config = row["config"]
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise _refused("the ID token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise _refused(f"the ID token's algorithm `{header.get('alg')}` is not accepted")
        try:
            answer = self._fetch("jwks_url", config["jwks_url"])
            keys = jwt.PyJWKSet.from_dict(answer.json()) if answer.status == 200 else None
        except (outbound.Failed, ValueError, jwt.PyJWTError):
            keys = None
        if keys is None:
            raise _refused("the provider's JWKS could not be read")
        candidates = [
            k for k in keys.keys if header.get("kid") is None or k.key_id == header.get("kid")
        ]
        if not candidates:
            raise _refused("no key of the provider's JWKS signed the ID token")
        for key in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    id_token,
                    key.key,
                    algorithms=[header["alg"]],
                    audience=config["client_id"],
                    issuer=config["issuer"],
                    options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                    leeway=30,
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise _refused("the ID token has expired") from None
            except jwt.InvalidAudienceError:
                raise _refused("the ID token is for another audience") from None
            except jwt.InvalidIssuerError:
                raise _refused("the ID token is from another issuer") from None
            except jwt.PyJWTError as error:
                raise _refused(f"the ID token does not verify ({error})") from None
            if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
                claims["nonce"], nonce
            ):
                raise _refused("the ID token's nonce is not this sign-in's")
            # OIDC Core §3.1.3.7: a token for several audiences must name us as its `azp`.
            azp = claims.get("azp")
            several = isinstance(claims["aud"], list) and len(claims["aud"]) > 1
            if (azp is not None or several) and azp != config["client_id"]:
                raise _refused("the ID token was issued to another client (`azp`)")
            return claims
        raise _refused("the ID token's signature does not verify")

    def _userinfo(self, row: OidcConnectionRow, access_token: Any, sub: Any) -> dict[str, Any]:
        """The userinfo endpoint's claims (they must be about the ID token's `sub`)."""
        url = row["config"].get("userinfo_url")
        if not url or not isinstance(access_token, str):
            return {}
        try:
            answer = self._fetch(
                "userinfo_url", url, headers={"Authorization": f"Bearer {access_token}"}
            )
            claims = answer.json() if answer.status == 200 else None
        except (outbound.Failed, ValueError):
            claims = None
        if not isinstance(claims, dict):
            raise _refused("the userinfo endpoint could not be read")
        if claims.get("sub") != sub:
            raise _refused("the userinfo endpoint answered about another subject")
        return claims


def _form(value: str) -> str:
    """RFC 6749 §2.3.1: client credentials are form-encoded before Basic authentication."""
    return urlencode({"": value})[1:]


def _is_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _check_mapping(mapping: Any) -> None:
    if mapping is not None and not mapping.get("email"):
        raise InvalidInput(
            "`attribute_mapping` must map `email` (and `full_name`, or `first_name` and "
            "`last_name`)",
            code=Code.INVALID_REQUEST,
        )


def _attributes(mapping: dict[str, Any] | None, claims: dict[str, Any]) -> dict[str, Any]:
    """The member's `email`, `name` and `groups` from the provider's claims."""
    names = {**DEFAULT_MAPPING, **(mapping or {})}

    def text(key: str) -> str:
        value = claims.get(names.get(key) or "")
        return value if isinstance(value, str) else ""

    email = text("email")
    if "@" not in email:
        raise _refused("the provider sent no email address")
    # A member is found by email: an address the provider itself says it has not verified
    # cannot sign them in (a claim left out is taken as verified: many IdPs omit it).
    if claims.get("email_verified") in (False, "false"):
        raise _refused("the provider says the email address is not verified")
    name = text("full_name") or " ".join(p for p in (text("first_name"), text("last_name")) if p)
    groups = claims.get(names.get("groups") or "")
    if isinstance(groups, str):
        groups = [groups]
    return {
        "email": email,
        "name": name,
        "groups": [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else [],
    }
