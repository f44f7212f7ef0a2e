"""Password hashes imported from other systems, and password strength checks.

`check_migrated_hash` validates a hash sent to Stytch's `POST /v1/b2b/passwords/migrate` and
returns the dict to store, always `{"hash": str, "config": dict}`; `verify_migrated_hash` checks a
password against that dict on login. Imported cost parameters are capped: a hostile import must
not turn every later login attempt into seconds of CPU or gigabytes of memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
from typing import Any, TypeGuard

import bcrypt
from argon2 import low_level
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from gatehouse.errors import InvalidInput
from gatehouse.policy.model import Problem

# The request field holding each hash type's config (the SDK's names); bcrypt takes none.
CONFIG_FIELD = {
    "argon_2i": "argon_2_config",
    "argon_2id": "argon_2_config",
    "scrypt": "scrypt_config",
    "md_5": "md_5_config",
    "sha_1": "sha_1_config",
    "sha_512": "sha_512_config",
    "pbkdf_2": "pbkdf_2_config",
}
HASH_TYPES = ("bcrypt", *CONFIG_FIELD)

_SALTS: dict[str, type] = {"prepend_salt": str, "append_salt": str}
# Each config's fields and their types; those with a default are optional.
_CONFIG_SPEC: dict[str, dict[str, type]] = {
    "argon_2_config": {
        "salt": str,
        "iteration_amount": int,
        "memory": int,
        "threads": int,
        "key_length": int,
    },
    "scrypt_config": {
        "salt": str,
        "n_parameter": int,
        "r_parameter": int,
        "p_parameter": int,
        "key_length": int,
    },
    "md_5_config": _SALTS,
    "sha_1_config": _SALTS,
    "sha_512_config": _SALTS,
    "pbkdf_2_config": {"salt": str, "iteration_amount": int, "key_length": int, "algorithm": str},
}
_DEFAULTS = {"prepend_salt": "", "append_salt": "", "algorithm": "sha256"}

_MAX_HASH_CHARS = 4096
_MAX_KEY_LENGTH = 1024
_BCRYPT_MAX_COST = 15  # a few seconds per check; real deployments use 10-12
_ARGON2_MAX_MEMORY_KIB = 262144  # 256 MiB
_ARGON2_MAX_ITERATIONS = 20
_ARGON2_MAX_THREADS = 16
_SCRYPT_MAX_N = 262144  # Stytch's own limit
# scrypt needs 128 * n * r bytes and p rounds of n * r work: this bounds both (256 MiB at p = 1).
_SCRYPT_MAX_NRP = 2**21
_PBKDF2_MAX_WORK = 10_000_000  # iterations, times blocks of output
_DIGESTS = {"md_5": ("md5", 32), "sha_1": ("sha1", 40), "sha_512": ("sha512", 128)}
_PBKDF2_DIGEST_SIZE = {"sha256": 32, "sha512": 64}

# bcrypt's 22nd salt character carries 4 unused bits, so only these four are canonical; the
# library raises on any other, and we would rather refuse at import than at login.
_BCRYPT = re.compile(r"\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{31}")
_ARGON2_PHC = re.compile(
    r"\$argon2(id|i|d)\$(?:v=([0-9]+)\$)?m=([0-9]+),t=([0-9]+),p=([0-9]+)"
    r"\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)"
)
_HEX = re.compile(r"[0-9a-fA-F]*")
_ARGON2_TYPE = {"argon_2i": low_level.Type.I, "argon_2id": low_level.Type.ID}


def check_migrated_hash(hash_type: str, hash: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """Validate an imported hash; `config` is the request's `CONFIG_FIELD[hash_type]` field."""
    if hash_type not in HASH_TYPES:
        reason = (
            "`phpass` hashes are not supported; reset these passwords instead"
            if hash_type == "phpass"
            else f"`{hash_type}` is not one of {', '.join(HASH_TYPES)}"
        )
        raise InvalidInput("unsupported hash_type", [Problem("hash_type", reason)])
    problems: list[Problem] = []
    if not isinstance(hash, str) or not hash:
        problems.append(Problem("hash", "is required"))
    elif len(hash) > _MAX_HASH_CHARS:
        problems.append(Problem("hash", f"must be at most {_MAX_HASH_CHARS} characters"))
    conf = _check_config(hash_type, config, problems)
    # Value checks assume a well-shaped hash and config; report shape problems alone first.
    stored = {} if problems else _CHECKS[hash_type](hash_type, hash, conf, problems)
    if problems:
        raise InvalidInput(f"invalid `{hash_type}` password hash", problems)
    return stored


def verify_migrated_hash(hash_type: str, stored: dict[str, Any], password: str) -> bool:
    """Check `password` against a dict `check_migrated_hash` returned for `hash_type`."""
    secret = password.encode("utf-8", "surrogatepass")
    hash, conf = stored["hash"], stored["config"]
    if hash_type == "bcrypt":
        # The exporting system ignored bytes past 72; bcrypt 5 raises on them instead.
        return bcrypt.checkpw(secret[:72], hash.encode("ascii"))
    if hash_type in _DIGESTS:
        salted = conf["prepend_salt"] + password + conf["append_salt"]
        digest = hashlib.new(_DIGESTS[hash_type][0], salted.encode("utf-8", "surrogatepass"))
        return hmac.compare_digest(digest.hexdigest(), hash)
    if hash_type in _ARGON2_TYPE and hash.startswith("$"):
        try:
            return low_level.verify_secret(hash.encode("ascii"), secret, _ARGON2_TYPE[hash_type])
        except (VerificationError, InvalidHashError):
            return False
    if hash_type in _ARGON2_TYPE:
        derived = low_level.hash_secret_raw(
            secret,
            conf["salt"].encode("utf-8"),
            time_cost=conf["iteration_amount"],
            memory_cost=conf["memory"],
            parallelism=conf["threads"],
            hash_len=conf["key_length"],
            type=_ARGON2_TYPE[hash_type],
        )
    elif hash_type == "scrypt":
        n, r, p = conf["n_parameter"], conf["r_parameter"], conf["p_parameter"]
        derived = hashlib.scrypt(
            secret,
            salt=base64.b64decode(conf["salt"]),
            n=n,
            r=r,
            p=p,
            maxmem=128 * r * (n + p + 2) + 2**20,
            dklen=conf["key_length"],
        )
    elif hash_type == "pbkdf_2":
        derived = hashlib.pbkdf2_hmac(
            conf["algorithm"],
            secret,
            base64.b64decode(conf["salt"]),
            conf["iteration_amount"],
            conf["key_length"],
        )
    else:
        raise ValueError(f"unknown hash_type `{hash_type}`")
    return hmac.compare_digest(derived, base64.b64decode(hash))


def _check_config(hash_type: str, config: Any, problems: list[Problem]) -> dict[str, Any] | None:
    field = CONFIG_FIELD.get(hash_type)
    if config is None:
        return None
    if field is None:
        problems.append(Problem("hash_type", f"`{hash_type}` hashes take no config"))
        return None
    if not isinstance(config, dict):
        problems.append(Problem(field, "must be an object"))
        return None
    spec = _CONFIG_SPEC[field]
    conf: dict[str, Any] = {key: _DEFAULTS[key] for key in spec if key in _DEFAULTS}
    for key in config:
        if key not in spec:
            problems.append(Problem(f"{field}.{key}", "is not a known field"))
    for key, kind in spec.items():
        value = config.get(key)
        if value is None:
            if key not in _DEFAULTS:
                problems.append(Problem(f"{field}.{key}", "is required"))
        # bool is an int subclass, but `true` is never a valid count.
        elif not isinstance(value, kind) or isinstance(value, bool):
            noun = "an integer" if kind is int else "a string"
            problems.append(Problem(f"{field}.{key}", f"must be {noun}"))
        else:
            conf[key] = value
    return conf


def _bounded(
    problems: list[Problem], path: str, value: int, low: int, high: int, name: str = ""
) -> None:
    if not low <= value <= high:
        what = f"{name} must" if name else "must"
        problems.append(Problem(path, f"{what} be between {low} and {high}, got `{value}`"))


def _b64(text: str, path: str, problems: list[Problem]) -> bytes | None:
    # Exporters disagree on padding and alphabet; accept both and store the canonical form.
    text = text.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        problems.append(Problem(path, "must be base64"))
        return None


def _key(hash: str, key_length: int, problems: list[Problem], hex_ok: bool = False) -> str:
    # Stytch's docs call the raw argon2 form hex, our callers send base64; for key_length >= 2
    # the two never have the same length, so each string has one reading.
    if hex_ok and len(hash) == 2 * key_length and _HEX.fullmatch(hash):
        key: bytes | None = bytes.fromhex(hash)
    else:
        key = _b64(hash, "hash", problems)
    if key is not None and len(key) != key_length:
        reason = f"decodes to {len(key)} bytes, but key_length is `{key_length}`"
        problems.append(Problem("hash", reason))
    return base64.b64encode(key or b"").decode("ascii")


def _required(
    conf: dict[str, Any] | None, hash_type: str, problems: list[Problem]
) -> TypeGuard[dict[str, Any]]:
    if conf is None:
        problems.append(Problem(CONFIG_FIELD[hash_type], f"is required for `{hash_type}` hashes"))
    return conf is not None


def _check_bcrypt(
    hash_type: str, hash: str, conf: dict[str, Any] | None, problems: list[Problem]
) -> dict[str, Any]:
    match = _BCRYPT.fullmatch(hash)
    if match is None:
        problems.append(Problem("hash", "must be a `$2a$`, `$2b$` or `$2y$` bcrypt hash"))
    else:
        _bounded(problems, "hash", int(match.group(1)), 4, _BCRYPT_MAX_COST, "cost")
    return {"hash": hash, "config": {}}


def _check_argon2(
    hash_type: str, hash: str, conf: dict[str, Any] | None, problems: list[Problem]
) -> dict[str, Any]:
    if hash.startswith("$"):
        # A PHC string carries every parameter, so any config sent alongside it is not needed.
        match = _ARGON2_PHC.fullmatch(hash)
        if match is None:
            problems.append(Problem("hash", "must be an argon2 PHC string or a raw base64 hash"))
            return {}
        variant, version, m, t, p, salt, key = match.groups()
        if variant != hash_type.removeprefix("argon_2"):
            problems.append(Problem("hash", f"is an `argon2{variant}` hash, not `{hash_type}`"))
        if version not in (None, "16", "19"):
            problems.append(Problem("hash", f"argon2 version `{version}` is not 16 or 19"))
        salt_bytes, key_bytes = _b64(salt, "hash", problems), _b64(key, "hash", problems)
        if salt_bytes is not None and key_bytes is not None:
            params = {
                "salt": salt_bytes,
                "memory": int(m),
                "iteration_amount": int(t),
                "threads": int(p),
                "key_length": len(key_bytes),
            }
            _argon2_bounds(params, True, problems)
        return {"hash": hash, "config": {}}
    if not _required(conf, hash_type, problems):
        return {}
    _argon2_bounds({**conf, "salt": conf["salt"].encode("utf-8")}, False, problems)
    return {"hash": _key(hash, conf["key_length"], problems, hex_ok=True), "config": conf}


def _argon2_bounds(params: dict[str, Any], phc: bool, problems: list[Problem]) -> None:
    """Bounds on argon2 parameters, from a PHC string (all reported at `hash`) or a config."""

    def at(name: str) -> tuple[str, str]:
        return ("hash", name) if phc else (f"argon_2_config.{name}", "")

    if len(params["salt"]) < 8:
        path, name = at("salt")
        problems.append(Problem(path, f"{name} must be at least 8 bytes".lstrip()))
    for key, low, high in (
        ("threads", 1, _ARGON2_MAX_THREADS),
        ("iteration_amount", 1, _ARGON2_MAX_ITERATIONS),
        # libargon2 needs 8 KiB per thread.
        ("memory", 8 * max(params["threads"], 1), _ARGON2_MAX_MEMORY_KIB),
        ("key_length", 4, _MAX_KEY_LENGTH),
    ):
        path, name = at(key)
        _bounded(problems, path, params[key], low, high, name)


def _check_scrypt(
    hash_type: str, hash: str, conf: dict[str, Any] | None, problems: list[Problem]
) -> dict[str, Any]:
    if not _required(conf, hash_type, problems):
        return {}
    n, r, p = conf["n_parameter"], conf["r_parameter"], conf["p_parameter"]
    if n <= 1 or n > _SCRYPT_MAX_N or n & (n - 1):
        problems.append(
            Problem(
                "scrypt_config.n_parameter",
                f"must be a power of two above 1 and at most {_SCRYPT_MAX_N}, got `{n}`",
            )
        )
    _bounded(problems, "scrypt_config.r_parameter", r, 1, 32)
    _bounded(problems, "scrypt_config.p_parameter", p, 1, 16)
    if n * r * p > _SCRYPT_MAX_NRP:
        problems.append(
            Problem(
                "scrypt_config",
                "n_parameter × r_parameter × p_parameter must "
                f"be at most {_SCRYPT_MAX_NRP}, got `{n * r * p}`",
            )
        )
    _bounded(problems, "scrypt_config.key_length", conf["key_length"], 1, _MAX_KEY_LENGTH)
    salt = _b64(conf["salt"], "scrypt_config.salt", problems)
    conf = {**conf, "salt": base64.b64encode(salt or b"").decode("ascii")}
    return {"hash": _key(hash, conf["key_length"], problems), "config": conf}


def _check_pbkdf2(
    hash_type: str, hash: str, conf: dict[str, Any] | None, problems: list[Problem]
) -> dict[str, Any]:
    if not _required(conf, hash_type, problems):
        return {}
    iterations, key_length = conf["iteration_amount"], conf["key_length"]
    _bounded(problems, "pbkdf_2_config.iteration_amount", iterations, 1, _PBKDF2_MAX_WORK)
    _bounded(problems, "pbkdf_2_config.key_length", key_length, 1, _MAX_KEY_LENGTH)
    size = _PBKDF2_DIGEST_SIZE.get(conf["algorithm"])
    if size is None:
        problems.append(
            Problem(
                "pbkdf_2_config.algorithm",
                f"must be `sha256` or `sha512`, got `{conf['algorithm']}`",
            )
        )
    elif iterations <= _PBKDF2_MAX_WORK:
        # Each digest-sized block of output costs a full run of the iterations.
        blocks = -(-key_length // size)
        if iterations * blocks > _PBKDF2_MAX_WORK:
            problems.append(
                Problem(
                    "pbkdf_2_config",
                    f"key_length `{key_length}` takes {blocks} "
                    f"blocks of `{iterations}` iterations, above the limit of "
                    f"{_PBKDF2_MAX_WORK} in total",
                )
            )
    salt = _b64(conf["salt"], "pbkdf_2_config.salt", problems)
    conf = {**conf, "salt": base64.b64encode(salt or b"").decode("ascii")}
    return {"hash": _key(hash, key_length, problems), "config": conf}


def _check_digest(
    hash_type: str, hash: str, conf: dict[str, Any] | None, problems: list[Problem]
) -> dict[str, Any]:
    length = _DIGESTS[hash_type][1]
    if len(hash) != length or not _HEX.fullmatch(hash):
        problems.append(Problem("hash", f"must be {length} hexadecimal characters"))
    return {"hash": hash.lower(), "config": conf or {"prepend_salt": "", "append_salt": ""}}


_CHECKS = {
    "bcrypt": _check_bcrypt,
    "argon_2i": _check_argon2,
    "argon_2id": _check_argon2,
    "scrypt": _check_scrypt,
    "pbkdf_2": _check_pbkdf2,
    "md_5": _check_digest,
    "sha_1": _check_digest,
    "sha_512": _check_digest,
}

_MIN_LENGTH = 8
_MIN_COMPLEXITY = 3
_MAX_ANALYSED_CHARS = 256  # zxcvbn's matching grows quickly with length
# zxcvbn keeps user_inputs in a module-global dictionary, so concurrent calls would mix them up.
_zxcvbn_lock = threading.Lock()


def strength_check(password: str, email_address: str | None) -> dict[str, Any]:
    """Stytch's strength-check fields for `password`, under the zxcvbn policy.

    Breach detection needs HaveIBeenPwned over the network, which Gatehouse does not use:
    `breached_password` and `breach_detection_on_create` are always false.
    """
    user_inputs: list[str] = []
    if email_address:
        local, _, domain = email_address.partition("@")
        user_inputs = [local, *re.split(r"[._+-]", local), *domain.split(".")]
    analysed = password[:_MAX_ANALYSED_CHARS]
    if analysed:
        with _zxcvbn_lock:
            result = zxcvbn(
                analysed, user_inputs=[u for u in user_inputs if u], max_length=_MAX_ANALYSED_CHARS
            )
        score, feedback = int(result["score"]), result["feedback"]
    else:  # zxcvbn crashes on the empty string
        score, feedback = 0, {"warning": "", "suggestions": ["Add a password."]}
    has = {
        "has_lower_case": any("a" <= c <= "z" for c in password),
        "has_upper_case": any("A" <= c <= "Z" for c in password),
        "has_digit": any("0" <= c <= "9" for c in password),
        # Stytch counts anything outside ASCII letters (and digits) as a symbol.
        "has_symbol": any(not (c.isascii() and c.isalnum()) for c in password),
    }
    return {
        "valid_password": score >= 3,
        "score": score,
        "breached_password": False,
        "strength_policy": "zxcvbn",
        "breach_detection_on_create": False,
        "luds_feedback": {
            **has,
            "missing_complexity": max(0, _MIN_COMPLEXITY - sum(has.values())),
            "missing_characters": max(0, _MIN_LENGTH - len(password)),
        },
        "zxcvbn_feedback": {
            "warning": str(feedback["warning"]),
            "suggestions": [str(s) for s in feedback["suggestions"]],
        },
    }
