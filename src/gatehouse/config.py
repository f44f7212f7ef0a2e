"""Gatehouse's settings: one frozen value, read once at start-up and handed to what needs it.

Every setting comes from, in this order (a later source wins):

1. its default, below;
2. a TOML config file (`--config FILE`, or the file `GATEHOUSE_CONFIG` names): `name = value`;
3. the environment: `GATEHOUSE_<NAME>`;
4. a flag: `--name-with-dashes`.

`load` reads and checks them all, reporting every problem at once as a `ConfigError`;
`reference` renders docs/CONFIGURATION.md from the fields' descriptions; `to_json` / `from_json`
hand settings to the worker processes of `gatehouse serve --workers N` through the same checks.
This module imports nothing heavy: the CLI builds its help from it.
"""

from __future__ import annotations

import base64
import difflib
import json
import math
import os
import re
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

# Stytch accepts session lengths from 5 minutes to 366 days; so does Gatehouse (docs/DECISIONS.md).
MIN_SESSION_MINUTES = 5
MAX_SESSION_MINUTES = 527_040

ENV_PREFIX = "GATEHOUSE_"
CONFIG_ENV = "GATEHOUSE_CONFIG"
DEFAULT_DATABASE_URL = "sqlite:///gatehouse-data/gatehouse.db"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

# The reference implementation's limits (argon2.h): lanes, passes and KiB of memory.
ARGON2_MAX_PARALLELISM = 0xFFFFFF
ARGON2_MAX_TIME_COST = 0xFFFFFFFF
ARGON2_MAX_MEMORY_KIB = 0xFFFFFFFF

Value = str | int | float | bool

GROUPS = {
    "server": "Server",
    "sessions": "Sessions and session JWTs",
    "passwords": "Member passwords",
    "email": "Outgoing email",
    "sms": "Outgoing SMS (MFA one-time codes)",
    "dashboard": "Dashboard",
    "caches": "Node caches",
    "observability": "Logs and metrics",
    "limits": "Abuse limits",
    "secrets": "Secrets at rest",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """What values a setting takes: `text` for the docs, `problem` the check (None: fine)."""

    text: str
    problem: Callable[[Any], str | None]


def _between(low: int, high: int) -> Rule:
    return Rule(
        f"{low} to {high}",
        lambda value: None if low <= value <= high else f"must be between {low} and {high}",
    )


def _at_least(low: int) -> Rule:
    return Rule(f"{low} or more", lambda value: None if value >= low else f"must be at least {low}")


POSITIVE = Rule("more than 0", lambda value: None if value > 0 else "must be more than 0")
NOT_EMPTY = Rule("not empty", lambda value: None if value.strip() else "must not be empty")


def _database_url(value: str) -> str | None:
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+_.-]*://.*", value):
        return None
    return (
        "must be a SQLAlchemy URL such as `sqlite:///PATH` or `postgresql+psycopg://USER@HOST/DB`"
    )


def _http_url(value: str) -> str | None:
    if value == "":
        return None  # derived from host and port
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.hostname and not parts.query + parts.fragment:
        return None
    return "must be an http:// or https:// URL without a query or fragment"


def _file(value: str) -> str | None:
    if value == "" or Path(value).is_file():
        return None
    return "is not a file; name an existing PEM file (`gatehouse dev-cert` makes a pair)"


def _log_level(value: str) -> str | None:
    return None if value.lower() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}"


def _encryption_keys(value: str) -> str | None:
    for number, key in enumerate(encryption_key_list(value), 1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            return (
                f"key {number} is not 32 bytes in url-safe base64 "
                "(make one with `gatehouse key encryption`)"
            )
    return None


def encryption_key_list(value: str) -> list[str]:
    """The keys of `encryption_keys`, first (the one that encrypts) first."""
    return [key.strip() for key in re.split(r"[,\s]+", value) if key.strip()]


def _email_sender(value: str) -> str | None:
    return None if "@" in parseaddr(value)[1] else "must be an email address (`Name <a@b.c>` too)"


DATABASE_URL = Rule("a SQLAlchemy URL", _database_url)
HTTP_URL = Rule("an `http://` or `https://` URL", _http_url)
FILE = Rule("a file", _file)
LOG_LEVEL = Rule(", ".join(LOG_LEVELS), _log_level)
EMAIL_SENDER = Rule("an email address, or `Name <address>`", _email_sender)
ENCRYPTION_KEYS = Rule("32-byte keys in url-safe base64, separated by commas", _encryption_keys)
ANY = Rule("any", lambda value: None)
ACCESS_LOGS = ("errors", "all", "off")
LOG_FORMATS = ("text", "json")


def _one_of(choices: tuple[str, ...]) -> Rule:
    return Rule(
        ", ".join(f"`{c}`" for c in choices),
        lambda value: None if value in choices else f"must be one of {', '.join(choices)}",
    )


def _setting(
    default: Any,
    help: str,
    group: str,
    rule: Rule = ANY,
    *,
    secret: bool = False,
    default_text: str | None = None,
) -> Any:
    metadata = {
        "help": help,
        "group": group,
        "rule": rule,
        "secret": secret,
        "default_text": default_text,
    }
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True, slots=True)
class Settings:
    # -- the server process
    database_url: str = _setting(
        DEFAULT_DATABASE_URL,
        "SQLAlchemy URL of the database: SQLite (a file) or PostgreSQL (`postgresql+psycopg://...`).",
        "server",
        DATABASE_URL,
        secret=True,
    )
    allow_postgres_database: bool = _setting(
        False,
        "Let `serve` and `init` use PostgreSQL's shared `postgres` database (else refused).",
        "server",
    )
    host: str = _setting("127.0.0.1", "Interface `serve` listens on.", "server", NOT_EMPTY)
    port: int = _setting(8080, "Port `serve` listens on.", "server", _between(1, 65535))
    workers: int = _setting(
        1,
        "Worker processes; each is a node with its own caches, kept fresh by the change feed.",
        "server",
        _between(1, 1024),
    )
    public_url: str = _setting(
        "",
        "URL clients reach this server by: the issuer (`iss`) of session JWTs and the base of email links.",
        "server",
        HTTP_URL,
        default_text="`http://HOST:PORT` (`https://` with TLS)",
    )
    tls_cert: str = _setting(
        "", "PEM certificate file: serve HTTPS (with `tls_key`).", "server", FILE
    )
    tls_key: str = _setting("", "PEM private key file of `tls_cert`.", "server", FILE)
    log_level: str = _setting(
        "info", f"uvicorn's log level: {', '.join(LOG_LEVELS)}.", "server", LOG_LEVEL
    )
    # -- logs and metrics (docs/OPERATIONS.md)
    access_log: str = _setting(
        "errors",
        "Which requests the access log (logger `gatehouse.access`, at INFO) records: `errors` "
        "(status 400 and above), `all`, or `off`.",
        "observability",
        _one_of(ACCESS_LOGS),
    )
    log_format: str = _setting(
        "text",
        "Format of the access log's lines: `text` (`key=value` pairs) or `json` (one JSON object "
        "a line).",
        "observability",
        _one_of(LOG_FORMATS),
    )
    http_header_timeout_seconds: float = _setting(
        10.0,
        "Seconds a connection may take to send a request head (from opening or a next "
        "request's first byte), else it is closed.",
        "server",
        POSITIVE,
    )
    http_hot_path: bool = _setting(
        True,
        "Answer the check endpoints (session authenticate, batch authorize) ahead of the "
        "routing and middleware, with the same answers (off: through them; for comparisons).",
        "server",
    )
    http_keepalive_timeout_seconds: int = _setting(
        5,
        "Seconds an idle kept-alive connection stays open (set it above a proxy's idle timeout).",
        "server",
        _between(1, 3600),
    )
    max_connections: int = _setting(
        900,
        "Connections per worker: past it a request gets 503 (`Retry-After`), past it + 32 a "
        "connection is closed. Under `ulimit -n` - 100.",
        "server",
        _at_least(2),
    )
    database_busy_timeout_seconds: float = _setting(
        10.0,
        "Seconds a write waits for a lock (SQLite busy timeout, PostgreSQL `lock_timeout`); "
        "then 503.",
        "server",
        POSITIVE,
    )
    # -- sessions and session JWTs
    jwt_lifetime_seconds: int = _setting(
        300, "How long a session JWT is valid, in seconds.", "sessions", _between(1, 86_400)
    )
    jwt_reuse_seconds: float = _setting(
        30.0,
        "How long `sessions.authenticate` may hand out the same session JWT while nothing in it "
        "changed, in seconds (0: sign a new one every time); less than `jwt_lifetime_seconds`.",
        "sessions",
        _at_least(0),
    )
    default_session_minutes: int = _setting(
        60,
        "Session length when a request names none, in minutes.",
        "sessions",
        _between(MIN_SESSION_MINUTES, MAX_SESSION_MINUTES),
    )
    # -- argon2id cost for member passwords; the defaults are RFC 9106's low-memory profile.
    argon2_time_cost: int = _setting(
        3,
        "argon2id passes over memory when hashing a member password.",
        "passwords",
        _between(1, ARGON2_MAX_TIME_COST),
    )
    argon2_memory_kib: int = _setting(
        65_536,
        "argon2id memory per member password hash, in KiB; at least 8 × `argon2_parallelism`.",
        "passwords",
        _between(8, ARGON2_MAX_MEMORY_KIB),
    )
    argon2_parallelism: int = _setting(
        4,
        "argon2id lanes per member password hash.",
        "passwords",
        _between(1, ARGON2_MAX_PARALLELISM),
    )
    # -- outgoing email (sign-in links, invitations, password resets)
    smtp_host: str = _setting(
        "",
        "SMTP server for outgoing email (sign-in links, invitations, password resets); "
        "empty: send none (see `mail_to_log`).",
        "email",
    )
    smtp_port: int = _setting(25, "Port of the SMTP server.", "email", _between(1, 65535))
    smtp_username: str = _setting(
        "", "User to sign in to the SMTP server as; empty: no sign-in.", "email"
    )
    smtp_password: str = _setting("", "Password for `smtp_username`.", "email", secret=True)
    smtp_starttls: bool = _setting(
        False, "Upgrade the SMTP connection with STARTTLS before signing in.", "email"
    )
    smtp_from: str = _setting(
        "gatehouse@localhost", "Sender (`From`) of outgoing email.", "email", EMAIL_SENDER
    )
    mail_to_log: bool = _setting(
        False,
        "With no `smtp_host`: write emails, tokens included, to the log (local use only); off: "
        "log only that one was not sent.",
        "email",
    )
    # -- outgoing SMS (MFA one-time codes)
    sms_sender: str = _setting(
        "log",
        "How MFA codes are texted: `log` (the server log; the code itself only with "
        "`sms_to_log`) or `webhook` (a JSON POST of `{to, body}` to `sms_webhook_url`).",
        "sms",
        _one_of(("log", "webhook")),
    )
    sms_webhook_url: str = _setting(
        "",
        "Where the `webhook` sender POSTs each text (an SMS gateway's endpoint).",
        "sms",
        HTTP_URL,
    )
    sms_webhook_secret: str = _setting(
        "",
        "Shared secret of the `webhook` sender: each POST carries `X-Gatehouse-Signature: "
        "sha256=<hex HMAC-SHA256 of the body>`.",
        "sms",
        secret=True,
    )
    sms_to_log: bool = _setting(
        False,
        "With the `log` sender: write texts, codes included, to the log (local use only); "
        "off: log only that one was not sent.",
        "sms",
    )
    texts_per_number_per_hour: int = _setting(
        5,
        "SMS codes a node sends to one phone number an hour; more get 429.",
        "limits",
        _at_least(1),
    )
    # -- dashboard sign-in
    dashboard_session_minutes: int = _setting(
        720,
        "How long a dashboard sign-in lasts, in minutes.",
        "dashboard",
        _between(1, MAX_SESSION_MINUTES),
    )
    dashboard_idle_minutes: int = _setting(
        30,
        "The dashboard's pages sign a person out after this many minutes without a request.",
        "dashboard",
        _between(1, MAX_SESSION_MINUTES),
    )
    email_link_minutes: int = _setting(
        15,
        "How long an emailed sign-in or password-reset link stays valid, in minutes "
        "(unless the request names a time).",
        "dashboard",
        _between(1, MAX_SESSION_MINUTES),
    )
    impersonation_minutes: int = _setting(
        30,
        "How long a support impersonation session lasts, in minutes.",
        "dashboard",
        _between(1, MAX_SESSION_MINUTES),
    )
    # -- node caches (docs/PERFORMANCE.md)
    cache_max_sessions: int = _setting(
        100_000,
        "Resolved sessions each node keeps in memory; the least recently used go first.",
        "caches",
        _at_least(1),
    )
    cache_ttl_seconds: float = _setting(
        300.0,
        "Safety-net expiry of every entry of a node's caches, in seconds.",
        "caches",
        POSITIVE,
    )

    # -- abuse limits (docs/DECISIONS.md, "Abuse limits")
    password_hash_concurrency: int = _setting(
        0,
        "Password hashes a node runs at once (0: 2 × CPU cores); beyond, a sign-in waits, "
        "then gets 429.",
        "limits",
        _at_least(0),
    )
    password_hash_wait_seconds: float = _setting(
        2.0,
        "How long a sign-in waits for a free hashing slot, in seconds.",
        "limits",
        _at_least(0),
    )
    sign_in_failures_per_client: int = _setting(
        20,
        "Failed password sign-ins per client (IP) in 15 minutes, any account, before it gets 429.",
        "limits",
        _at_least(1),
    )
    sign_in_failures_per_account_client: int = _setting(
        5,
        "Failed password sign-ins per client for one account in 15 minutes before it gets 429.",
        "limits",
        _at_least(1),
    )
    sign_in_failures_per_account: int = _setting(
        10,
        "Failures for one account in 15 minutes after which only clients with none may try.",
        "limits",
        _at_least(1),
    )
    emails_per_address_per_hour: int = _setting(
        5,
        "Emails (sign-in links, resets) a node sends to one address an hour; more get 429.",
        "limits",
        _at_least(1),
    )
    emails_per_client_per_hour: int = _setting(
        30,
        "Emails a node sends for one client (IP address) an hour; more get 429.",
        "limits",
        _at_least(1),
    )
    outbound_allow_private_networks: bool = _setting(
        False,
        "Let fetches of operator-supplied URLs (SAML metadata, OIDC discovery, JWKS, token "
        "endpoints) reach loopback, private and link-local addresses (off: refused, against SSRF).",
        "limits",
    )
    # -- secrets at rest
    encryption_keys: str = _setting(
        "",
        "Keys sealing secrets at rest: the first seals, all open. Empty: a key file beside "
        "the SQLite database.",
        "secrets",
        ENCRYPTION_KEYS,
        secret=True,
    )

    def __post_init__(self) -> None:
        scheme = "https" if self.tls_cert else "http"
        url = self.public_url or f"{scheme}://{self.host}:{self.port}"
        object.__setattr__(self, "public_url", url.rstrip("/"))


# -- the settings, described -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One setting as users see it: in the docs, in `--help`, in error messages."""

    name: str
    type: type[Value]
    default: Value
    help: str
    group: str
    rule: Rule
    secret: bool
    default_text: str | None

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def type_name(self) -> str:
        return {str: "string", int: "integer", float: "number", bool: "boolean"}[self.type]


def _describe() -> dict[str, SettingInfo]:
    hints = typing.get_type_hints(Settings)
    out: dict[str, SettingInfo] = {}
    for f in fields(Settings):
        assert f.default is not MISSING
        out[f.name] = SettingInfo(
            name=f.name,
            type=hints[f.name],
            default=f.default,
            help=f.metadata["help"],
            group=f.metadata["group"],
            rule=f.metadata["rule"],
            secret=f.metadata["secret"],
            default_text=f.metadata["default_text"],
        )
    return out


SETTINGS: Mapping[str, SettingInfo] = _describe()


# -- where a value came from ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origin:
    """`kind` is default, file, env, flag or worker; `where` names the file, variable or flag."""

    kind: Literal["default", "file", "env", "flag", "worker"]
    where: str

    def source(self, setting: SettingInfo) -> str:
        """The default, the flag, the variable, or the key in the file."""
        if self.kind == "file":
            return f"`{setting.name}` in {self.where}"
        return "the default" if self.kind == "default" else self.where

    def describe(self, setting: SettingInfo, raw: Any) -> str:
        """`got VALUE from SOURCE`, without the value of a secret."""
        return f"got {'' if setting.secret else f'{raw!r} '}from {self.source(setting)}"


@dataclass(frozen=True, slots=True)
class Layer:
    """The values of one source, as they were written (strings from env vars and flags)."""

    kind: Literal["file", "env", "flag", "worker"]
    where: str  # the file's path, or the name of the variable the worker settings are in
    values: Mapping[str, Any]
    strings: bool = False  # values are text to parse (env vars, flags), not typed (TOML, JSON)

    def origin(self, name: str) -> Origin:
        setting = SETTINGS[name]
        where = {"env": setting.env_var, "flag": setting.flag}.get(self.kind, self.where)
        return Origin(self.kind, where)


class ConfigError(Exception):
    """Every problem found in the settings, each naming the setting and where its value came from."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems

    def __str__(self) -> str:
        if len(self.problems) == 1:  # one line, like every other failure of the command
            return f"invalid configuration: {self.problems[0]}"
        return "invalid configuration:\n" + "\n".join(f"  {p}" for p in self.problems)


@dataclass(frozen=True, slots=True)
class Loaded:
    settings: Settings
    origins: Mapping[str, Origin]


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _parse(setting: SettingInfo, raw: Any, text: bool) -> tuple[Value | None, str | None]:
    """The typed value of `raw`, or the problem with it."""
    kind = setting.type
    if kind is bool:
        if isinstance(raw, bool):  # TOML, JSON, or a --flag/--no-flag
            return raw, None
        if text and isinstance(raw, str) and raw.strip().lower() in _TRUE + _FALSE:
            return raw.strip().lower() in _TRUE, None
        return None, "must be true or false" + (" (or 1/0, yes/no, on/off)" if text else "")
    if kind is str:
        return (raw, None) if isinstance(raw, str) else (None, "must be a string")
    if text:
        try:
            number: float = int(raw.strip()) if kind is int else float(raw.strip())
        except ValueError:
            return None, f"must be {'an integer' if kind is int else 'a number'}"
    elif isinstance(raw, bool) or not isinstance(raw, int | float):
        return None, f"must be {'an integer' if kind is int else 'a number'}"
    elif kind is int and not isinstance(raw, int):
        return None, "must be an integer"
    else:
        number = raw
    if kind is float:
        number = float(number)
        if not math.isfinite(number):
            return None, "must be a finite number"
    return number, None


def resolve(layers: list[Layer]) -> Loaded:
    """Settings from the defaults and `layers` (later ones win), or a ConfigError naming every
    problem: unknown keys, values of the wrong type, values out of range, settings that disagree."""
    problems: list[str] = []
    values: dict[str, Value] = {}
    origins: dict[str, Origin] = {name: Origin("default", "default") for name in SETTINGS}
    bad: set[str] = set()  # settings whose last value is wrong: not compared with others
    for layer in layers:
        for name, raw in layer.values.items():
            if name not in SETTINGS:
                close = difflib.get_close_matches(name, list(SETTINGS), n=1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                problems.append(f"{name}: not a setting (in {layer.where}){hint}")
                continue
            setting, origin = SETTINGS[name], layer.origin(name)
            value, problem = _parse(setting, raw, layer.strings)
            if problem is None:
                problem = setting.rule.problem(value)
            if problem is not None:
                problems.append(f"{name}: {problem} ({origin.describe(setting, raw)})")
                bad.add(name)
                continue
            assert value is not None
            values[name], origins[name] = value, origin
            bad.discard(name)
    problems += _disagreements(values, origins, bad)
    if problems:
        raise ConfigError(problems)
    return Loaded(Settings(**values), origins)  # type: ignore[arg-type]


def _disagreements(
    values: Mapping[str, Value], origins: Mapping[str, Origin], bad: set[str]
) -> list[str]:
    """Problems between settings whose values are each fine alone."""
    final = Settings(**values)  # type: ignore[arg-type]

    def fine(*names: str) -> bool:
        return not bad.intersection(names)

    def said(name: str) -> str:
        value = getattr(final, name)
        return f"{name} = {value!r} from {origins[name].source(SETTINGS[name])}"

    problems = []
    if fine("tls_cert", "tls_key") and bool(final.tls_cert) != bool(final.tls_key):
        given, other = ("tls_cert", "tls_key") if final.tls_cert else ("tls_key", "tls_cert")
        problems.append(f"{other}: must be set with {given} ({said(given)})")
    lanes = final.argon2_parallelism
    if fine("argon2_memory_kib", "argon2_parallelism") and final.argon2_memory_kib < 8 * lanes:
        problems.append(
            f"argon2_memory_kib: must be at least 8 × argon2_parallelism = {8 * lanes} "
            f"({said('argon2_memory_kib')}, {said('argon2_parallelism')})"
        )
    if (
        fine("encryption_keys", "database_url")
        and not final.encryption_keys
        and not final.database_url.startswith("sqlite")
    ):
        problems.append(
            "encryption_keys: must be set, the same on every node, with a database other than "
            f"SQLite (database_url from {origins['database_url'].source(SETTINGS['database_url'])}); "
            "make a key with `gatehouse key encryption`"
        )
    lifetime = final.jwt_lifetime_seconds
    if fine("jwt_reuse_seconds", "jwt_lifetime_seconds") and final.jwt_reuse_seconds >= lifetime:
        problems.append(
            f"jwt_reuse_seconds: must be less than jwt_lifetime_seconds = {lifetime} "
            f"({said('jwt_reuse_seconds')}, {said('jwt_lifetime_seconds')})"
        )
    return problems


# -- the sources -------------------------------------------------------------------------------


def _file_layer(path: Path, named_by: str) -> Layer:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            [f"config file {path} ({named_by}): cannot read it: {error.strerror or error}"]
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"config file {path} ({named_by}): not valid TOML: {error}"]) from None
    return Layer("file", str(path), document)


def load(
    config_file: Path | None = None,
    flags: Mapping[str, str | bool | None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """The settings from the defaults, the config file (`config_file`, else $GATEHOUSE_CONFIG),
    the `GATEHOUSE_*` environment variables and `flags` (None: not given), in that order.

    An empty environment variable counts as unset. Raises ConfigError naming every problem."""
    environ = os.environ if environ is None else environ
    layers: list[Layer] = []
    problems: list[str] = []
    if config_file is None and environ.get(CONFIG_ENV):
        config_file, named_by = Path(environ[CONFIG_ENV]), CONFIG_ENV
    else:
        named_by = "--config"
    if config_file is not None:
        try:
            layers.append(_file_layer(config_file, named_by))
        except ConfigError as error:
            problems += error.problems
    env = {s.name: environ[s.env_var] for s in SETTINGS.values() if environ.get(s.env_var)}
    layers.append(Layer("env", "the environment", env, strings=True))
    given = {name: value for name, value in (flags or {}).items() if value is not None}
    layers.append(Layer("flag", "flags", given, strings=True))
    try:
        loaded = resolve(layers)
    except ConfigError as error:
        raise ConfigError(problems + error.problems) from None
    if problems:
        raise ConfigError(problems)
    return loaded


def to_json(settings: Settings) -> str:
    return json.dumps(asdict(settings))


def from_json(text: str, where: str = "worker settings") -> Settings:
    """The settings `to_json` wrote, through the same checks as every other source."""
    return resolve([Layer("worker", where, json.loads(text))]).settings


def shown(name: str, value: Value) -> Value:
    """`value` as it may be printed: secrets hidden, a database URL without its password."""
    if name == "database_url" and isinstance(value, str):
        return re.sub(r"^([^:/]+://[^:@/]*):[^@/]*@", r"\1:***@", value)
    if SETTINGS[name].secret and value:
        return "***"
    return value


# -- docs/CONFIGURATION.md -----------------------------------------------------------------------


def _default_text(setting: SettingInfo) -> str:
    if setting.default_text is not None:
        return setting.default_text
    if setting.default == "":
        return "(empty)"
    if isinstance(setting.default, bool):
        return f"`{str(setting.default).lower()}`"
    if isinstance(setting.default, str):
        return f"`{setting.default}`"
    return f"`{setting.default!r}`"


def _example(setting: SettingInfo) -> str:
    if setting.type is bool:
        return f"{setting.name} = {str(setting.default).lower()}"
    if setting.type is str:
        return f"{setting.name} = {json.dumps(setting.default)}"
    return f"{setting.name} = {setting.default!r}"


def reference() -> str:
    """docs/CONFIGURATION.md (scripts/config-reference writes it; a test keeps it current)."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from src/gatehouse/config.py by scripts/config-reference: edit the",
        "     descriptions there and regenerate; tests/test_config.py fails when this file is stale. -->",
        "",
        "Every setting is read from four places; a later one wins:",
        "",
        "1. its default (below);",
        "2. a TOML config file named by `--config FILE`, or else by the `GATEHOUSE_CONFIG` "
        "environment variable: one `name = value` line per setting, no tables; a key that is not "
        "a setting is refused;",
        "3. the environment variable `GATEHOUSE_<NAME>` (an empty variable counts as unset; "
        "booleans are `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`);",
        "4. the flag `--name-with-dashes` of `gatehouse serve` (and of `gatehouse config show`).",
        "",
        "`gatehouse init`, `gatehouse key create` and `gatehouse policy ...` read the same file and "
        "variables, and take `--config` and `--database-url`, to find the database.",
        "",
        "Every value is checked when a command starts: all problems are reported at once, each "
        "naming the setting and where its value came from, and the command exits with status 2. "
        "`gatehouse config show [--json]` prints each setting's value and its source.",
        "",
        "```sh",
        "gatehouse serve --config /etc/gatehouse.toml --port 9000   # the flag wins over the file",
        "GATEHOUSE_SMTP_HOST=mail.internal gatehouse serve",
        "```",
    ]
    for group, title in GROUPS.items():
        lines += [
            "",
            f"## {title}",
            "",
            "| setting | type | default | values | environment variable | flag | description |",
            "|---|---|---|---|---|---|---|",
        ]
        for s in SETTINGS.values():
            if s.group != group:
                continue
            flag = f"`{s.flag}` / `--no-{s.flag[2:]}`" if s.type is bool else f"`{s.flag}`"
            values = "`true`, `false`" if s.type is bool else s.rule.text
            lines.append(
                f"| `{s.name}` | {s.type_name} | {_default_text(s)} | {values} | `{s.env_var}` "
                f"| {flag} | {s.help} |"
            )
    lines += [
        "",
        "## A config file with every setting at its default",
        "",
        "```toml",
        *(_example(s) for s in SETTINGS.values()),
        "```",
        "",
    ]
    return "\n".join(lines)
