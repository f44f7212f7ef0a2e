"""Imported password hashes are generated here with the real libraries (with small cost
parameters, to stay fast), then imported and verified; strength checks use the real zxcvbn."""

from __future__ import annotations

import base64
import hashlib
import time

import bcrypt
import pytest
from argon2 import PasswordHasher, low_level
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gatehouse.errors import InvalidInput
from gatehouse.services.security.password_hashes import (
    CONFIG_FIELD,
    HASH_TYPES,
    check_migrated_hash,
    strength_check,
    verify_migrated_hash,
)

PASSWORD = "correct horse battery staple"
WRONG = "correct horse battery stapler"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def imports(hash_type: str, hash: str, config: dict | None = None) -> dict:
    stored = check_migrated_hash(hash_type, hash, config)
    assert set(stored) == {"hash", "config"}
    return stored


def assert_verifies(hash_type: str, stored: dict, password: str = PASSWORD) -> None:
    assert verify_migrated_hash(hash_type, stored, password) is True
    assert verify_migrated_hash(hash_type, stored, WRONG) is False
    assert verify_migrated_hash(hash_type, stored, "") is False


def problems(hash_type: str, hash: str, config: dict | None = None) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        check_migrated_hash(hash_type, hash, config)
    assert caught.value.code == "invalid_request"
    assert caught.value.problems
    return {p.path: p.reason for p in caught.value.problems}


def test_config_fields_cover_every_type_but_bcrypt() -> None:
    assert set(HASH_TYPES) == set(CONFIG_FIELD) | {"bcrypt"}
    assert CONFIG_FIELD["argon_2i"] == CONFIG_FIELD["argon_2id"] == "argon_2_config"
    assert CONFIG_FIELD["pbkdf_2"] == "pbkdf_2_config"


# bcrypt


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_verifies(prefix: str) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    hashed = prefix + hashed[4:]
    stored = imports("bcrypt", hashed)
    assert stored == {"hash": hashed, "config": {}}
    assert_verifies("bcrypt", stored)


def test_bcrypt_ignores_bytes_past_72_as_the_exporting_system_did() -> None:
    long = "x" * 80
    hashed = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(4)).decode()
    stored = imports("bcrypt", hashed)
    assert verify_migrated_hash("bcrypt", stored, long) is True
    assert verify_migrated_hash("bcrypt", stored, "x" * 71) is False


def test_bcrypt_rejects_malformed_hashes() -> None:
    good = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    arabic_digits = "$2b$\u0660\u0664$" + good[7:]
    for bad in [
        "not a hash",
        good[:-1],
        "$2x$" + good[4:],
        good[:28] + "z" + good[29:],
        arabic_digits,
    ]:
        assert "bcrypt" in problems("bcrypt", bad)["hash"]
    # A cost of 31 would take minutes per login attempt.
    assert "cost" in problems("bcrypt", good[:4] + "31" + good[6:])["hash"]
    assert "hash_type" in problems("bcrypt", good, {"salt": "x"})


# argon2


@pytest.mark.parametrize(
    ("hash_type", "kind"), [("argon_2i", low_level.Type.I), ("argon_2id", low_level.Type.ID)]
)
def test_argon2_phc_strings_verify(hash_type: str, kind: low_level.Type) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=2, type=kind)
    encoded = hasher.hash(PASSWORD)
    stored = imports(hash_type, encoded)
    assert stored == {"hash": encoded, "config": {}}
    assert_verifies(hash_type, stored)
    # The other variant of the same hash is refused rather than silently mis-verified.
    other = "argon_2id" if hash_type == "argon_2i" else "argon_2i"
    assert "not `" + other + "`" in problems(other, encoded)["hash"]


@pytest.mark.parametrize(
    ("hash_type", "kind"), [("argon_2i", low_level.Type.I), ("argon_2id", low_level.Type.ID)]
)
def test_argon2_raw_hashes_verify_with_config(hash_type: str, kind: low_level.Type) -> None:
    config = {
        "salt": "pepper-and-salt",
        "iteration_amount": 2,
        "memory": 32,
        "threads": 1,
        "key_length": 24,
    }
    raw = low_level.hash_secret_raw(
        PASSWORD.encode(),
        b"pepper-and-salt",
        time_cost=2,
        memory_cost=32,
        parallelism=1,
        hash_len=24,
        type=kind,
    )
    stored = imports(hash_type, b64(raw), config)
    assert stored == {"hash": b64(raw), "config": config}
    assert_verifies(hash_type, stored)
    # Stytch's docs call the raw form hex; the same key in hex imports to the same stored dict.
    assert imports(hash_type, raw.hex(), config) == stored
    assert problems(hash_type, b64(raw)) == {
        "argon_2_config": "is required for `" + hash_type + "` hashes"
    }


def test_argon2_rejects_malformed_and_expensive_parameters() -> None:
    encoded = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert "PHC" in problems("argon_2id", "$argon2id$v=19$garbage")["hash"]
    greedy = encoded.replace("m=8,", "m=1048576,")
    assert "memory must be between 8 and 262144" in problems("argon_2id", greedy)["hash"]
    slow = encoded.replace(",t=1,", ",t=50,")
    assert "iteration_amount" in problems("argon_2id", slow)["hash"]
    config = {
        "salt": "short",
        "iteration_amount": 21,
        "memory": 2**20,
        "threads": 4,
        "key_length": 32,
    }
    found = problems("argon_2id", b64(bytes(32)), config)
    assert set(found) == {
        "argon_2_config.salt",
        "argon_2_config.iteration_amount",
        "argon_2_config.memory",
    }
    assert "`1048576`" in found["argon_2_config.memory"]
    config.update(salt="long enough salt", iteration_amount=1, memory=64)
    assert "16 bytes" in problems("argon_2id", b64(bytes(16)), config)["hash"]


# scrypt and pbkdf2


def scrypt_config(**overrides: object) -> dict:
    return {
        "salt": b64(b"NaCl-salt"),
        "n_parameter": 16,
        "r_parameter": 8,
        "p_parameter": 1,
        "key_length": 32,
        **overrides,
    }


def test_scrypt_verifies() -> None:
    key = hashlib.scrypt(PASSWORD.encode(), salt=b"NaCl-salt", n=16, r=8, p=1, dklen=32)
    stored = imports("scrypt", b64(key), scrypt_config())
    assert stored == {"hash": b64(key), "config": scrypt_config()}
    assert_verifies("scrypt", stored)
    # Unpadded base64 is accepted and stored in canonical form.
    assert imports("scrypt", b64(key).rstrip("="), scrypt_config()) == stored


def test_scrypt_rejects_bad_parameters() -> None:
    key = b64(bytes(32))
    assert (
        "power of two"
        in problems("scrypt", key, scrypt_config(n_parameter=24))["scrypt_config.n_parameter"]
    )
    assert (
        "power of two"
        in problems("scrypt", key, scrypt_config(n_parameter=1))["scrypt_config.n_parameter"]
    )
    assert (
        "`524288`"
        in problems("scrypt", key, scrypt_config(n_parameter=2**19))["scrypt_config.n_parameter"]
    )
    assert (
        "at most 2097152"
        in problems("scrypt", key, scrypt_config(n_parameter=2**18, r_parameter=16))[
            "scrypt_config"
        ]
    )
    assert problems("scrypt", key, scrypt_config(salt="not base64!")) == {
        "scrypt_config.salt": "must be base64"
    }
    assert "`32`" in problems("scrypt", b64(bytes(16)), scrypt_config())["hash"]
    assert problems("scrypt", "%%%", scrypt_config()) == {"hash": "must be base64"}
    assert problems("scrypt", key) == {"scrypt_config": "is required for `scrypt` hashes"}


def test_config_shape_gets_one_problem_per_issue() -> None:
    config = {
        "salt": 5,
        "n_parameter": "16",
        "r_parameter": True,
        "p_parameter": None,
        "colour": "blue",
    }
    assert problems("scrypt", b64(bytes(32)), config) == {
        "scrypt_config.salt": "must be a string",
        "scrypt_config.n_parameter": "must be an integer",
        "scrypt_config.r_parameter": "must be an integer",
        "scrypt_config.p_parameter": "is required",
        "scrypt_config.key_length": "is required",
        "scrypt_config.colour": "is not a known field",
    }
    not_an_object: dict = ["salt"]  # type: ignore[assignment]
    assert problems("pbkdf_2", b64(bytes(32)), not_an_object) == {
        "pbkdf_2_config": "must be an object"
    }
    assert problems("md_5", hashlib.md5(b"x").hexdigest(), {"prepend_salt": 1}) == {
        "md_5_config.prepend_salt": "must be a string"
    }


@pytest.mark.parametrize("algorithm", [None, "sha256", "sha512"])
def test_pbkdf2_verifies(algorithm: str | None) -> None:
    key = hashlib.pbkdf2_hmac(algorithm or "sha256", PASSWORD.encode(), b"salt!", 1000, 32)
    config = {"salt": b64(b"salt!"), "iteration_amount": 1000, "key_length": 32}
    if algorithm:
        config["algorithm"] = algorithm
    stored = imports("pbkdf_2", b64(key), config)
    assert stored["config"] == {**config, "algorithm": algorithm or "sha256"}
    assert_verifies("pbkdf_2", stored)


def test_pbkdf2_caps_the_work_per_login() -> None:
    base = {"salt": b64(b"salt!"), "key_length": 32}
    found = problems("pbkdf_2", b64(bytes(32)), {**base, "iteration_amount": 10_000_001})
    assert "got `10000001`" in found["pbkdf_2_config.iteration_amount"]
    # Each extra 32-byte block of sha256 output repeats all the iterations.
    found = problems(
        "pbkdf_2", b64(bytes(96)), {**base, "key_length": 96, "iteration_amount": 5_000_000}
    )
    assert "3 blocks" in found["pbkdf_2_config"]
    found = problems("pbkdf_2", b64(bytes(32)), {**base, "iteration_amount": 1, "algorithm": "md5"})
    assert found == {"pbkdf_2_config.algorithm": "must be `sha256` or `sha512`, got `md5`"}


# salted digests


@pytest.mark.parametrize(
    ("hash_type", "name"), [("md_5", "md5"), ("sha_1", "sha1"), ("sha_512", "sha512")]
)
def test_salted_digests_verify(hash_type: str, name: str) -> None:
    plain = hashlib.new(name, PASSWORD.encode()).hexdigest()
    assert_verifies(hash_type, imports(hash_type, plain))
    assert_verifies(hash_type, imports(hash_type, plain.upper(), {}))
    salted = hashlib.new(name, ("pre" + PASSWORD + "post").encode()).hexdigest()
    config = {"prepend_salt": "pre", "append_salt": "post"}
    stored = imports(hash_type, salted, config)
    assert stored == {"hash": salted, "config": config}
    assert_verifies(hash_type, stored)
    only_append = hashlib.new(name, (PASSWORD + "post").encode()).hexdigest()
    assert_verifies(hash_type, imports(hash_type, only_append, {"append_salt": "post"}))
    assert "hexadecimal" in problems(hash_type, plain[:-1])["hash"]
    assert "hexadecimal" in problems(hash_type, "z" + plain[1:])["hash"]


def test_unsupported_hash_types_are_refused() -> None:
    assert "not supported" in problems("phpass", "$P$984478476IagS59wHZvyQMArzfx58u.")["hash_type"]
    assert problems("md5", "abc")["hash_type"].startswith("`md5` is not one of bcrypt")
    assert problems("bcrypt", "") == {"hash": "is required"}
    with pytest.raises(InvalidInput) as caught:
        check_migrated_hash("sha_1", "nope", None)
    assert caught.value.message.startswith("invalid `sha_1` password hash: hash: ")


@settings(max_examples=40, deadline=None, database=None)
@given(password=st.text(max_size=40), other=st.text(max_size=40))
def test_random_passwords_round_trip_through_scrypt_and_pbkdf2(password: str, other: str) -> None:
    # Both KDFs key an HMAC with the password, and HMAC pads keys with NUL bytes, so passwords
    # that differ only in trailing NULs are the same key (the API refuses NUL in input anyway).
    assume(other == password or other.rstrip("\x00") != password.rstrip("\x00"))
    secret = password.encode("utf-8")
    key = hashlib.scrypt(secret, salt=b"s", n=2, r=1, p=1, dklen=16)
    config = {
        "salt": b64(b"s"),
        "n_parameter": 2,
        "r_parameter": 1,
        "p_parameter": 1,
        "key_length": 16,
    }
    stored = check_migrated_hash("scrypt", b64(key), config)
    assert verify_migrated_hash("scrypt", stored, password)
    assert verify_migrated_hash("scrypt", stored, other) == (other == password)
    key = hashlib.pbkdf2_hmac("sha512", secret, b"s", 2, 20)
    config = {"salt": b64(b"s"), "iteration_amount": 2, "key_length": 20, "algorithm": "sha512"}
    stored = check_migrated_hash("pbkdf_2", b64(key), config)
    assert verify_migrated_hash("pbkdf_2", stored, password)
    assert verify_migrated_hash("pbkdf_2", stored, other) == (other == password)


def test_unpaired_surrogates_in_passwords_do_not_crash() -> None:
    config = {"salt": b64(b"s"), "iteration_amount": 1, "key_length": 32}
    key = hashlib.pbkdf2_hmac("sha256", "a\ud800".encode("utf-8", "surrogatepass"), b"s", 1)
    stored = check_migrated_hash("pbkdf_2", b64(key), config)
    assert verify_migrated_hash("pbkdf_2", stored, "a\ud800") is True
    assert verify_migrated_hash("pbkdf_2", stored, "a\ud801") is False
    assert verify_migrated_hash("md_5", imports("md_5", "0" * 32), "\udfff") is False
    assert strength_check("\ud800" * 9, None)["luds_feedback"]["has_symbol"] is True


# strength checks

FIELDS = {
    "valid_password",
    "score",
    "breached_password",
    "strength_policy",
    "breach_detection_on_create",
    "luds_feedback",
    "zxcvbn_feedback",
}


def test_common_password_is_weak() -> None:
    result = strength_check("password", None)
    assert set(result) == FIELDS
    assert result["score"] < 3 and result["valid_password"] is False
    assert result["strength_policy"] == "zxcvbn"
    assert result["breached_password"] is False and result["breach_detection_on_create"] is False
    assert result["zxcvbn_feedback"]["warning"]
    assert all(isinstance(s, str) for s in result["zxcvbn_feedback"]["suggestions"])
    assert result["luds_feedback"] == {
        "has_lower_case": True,
        "has_upper_case": False,
        "has_digit": False,
        "has_symbol": False,
        "missing_complexity": 2,
        "missing_characters": 0,
    }


def test_long_random_passphrase_is_valid() -> None:
    result = strength_check("quartz lantern mossy otter Rhubarb 1987 zeppelin", None)
    assert result["score"] >= 3 and result["valid_password"] is True
    assert result["luds_feedback"] == {
        "has_lower_case": True,
        "has_upper_case": True,
        "has_digit": True,
        "has_symbol": True,
        "missing_complexity": 0,
        "missing_characters": 0,
    }
    assert result["zxcvbn_feedback"] == {"warning": "", "suggestions": []}


def test_luds_counts_characters_and_classes() -> None:
    luds = strength_check("Ab1", None)["luds_feedback"]
    assert luds["missing_characters"] == 5 and luds["missing_complexity"] == 0
    assert strength_check("élan", None)["luds_feedback"]["has_symbol"] is True
    accented = strength_check("ÉÀÜÖ", None)["luds_feedback"]
    assert accented["has_upper_case"] is False and accented["has_symbol"] is True
    empty = strength_check("", None)
    assert empty["score"] == 0 and empty["valid_password"] is False
    assert empty["luds_feedback"]["missing_characters"] == 8
    assert empty["luds_feedback"]["missing_complexity"] == 3


def test_email_parts_weaken_passwords_built_from_them() -> None:
    assert strength_check("Alice.Smith99", None)["valid_password"] is True
    result = strength_check("Alice.Smith99", "alice.smith@example.com")
    assert result["valid_password"] is False and result["score"] < 3


def test_very_long_passwords_are_analysed_quickly() -> None:
    started = time.monotonic()
    result = strength_check("aB3$" * 5000, "someone@example.com")
    assert time.monotonic() - started < 10
    assert result["luds_feedback"]["missing_complexity"] == 0
