"""Secrets at rest (session JWT signing keys), sealed with Fernet (AES-128-CBC + HMAC-SHA256,
from `cryptography`) under the `encryption_keys` setting.

The first key seals; every key opens (`MultiFernet`), so a key is rotated by putting a new one
first: `gatehouse serve` re-seals what an older key sealed, at start-up. With no key configured
and a SQLite database, a key is generated once into `encryption.key` beside the database file;
with another database the setting is required (config.py refuses to start without it), and a
library user who builds `Gatehouse` without one gets a key file in `gatehouse-data/` of the
current directory (the default data directory).

A sealed value is `fernet:<token>`. A value without that prefix is an older clear-text PEM: it
still opens, and is re-sealed at start-up.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gatehouse.config import Settings, encryption_key_list

log = logging.getLogger(__name__)

PREFIX = "fernet:"
KEY_FILE = "encryption.key"
DEFAULT_DATA_DIRECTORY = Path("gatehouse-data")


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def key_file_for(database_url: str) -> Path:
    """Where the generated key lives when none is configured: beside a SQLite database file."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:" and "///" in database_url:
            return Path(path).parent / KEY_FILE
    return DEFAULT_DATA_DIRECTORY / KEY_FILE


def _read_or_create(path: Path) -> str:
    """The key in `path`, made (readable by its owner only) when there is none yet; two
    processes starting at once agree on one key (the file appears whole, or not at all)."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(new_key() + "\n")
    try:
        os.link(draft, path)
        log.warning("generated the encryption key %s: back it up with the database", path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        draft.unlink()
    return path.read_text(encoding="ascii").strip()


class Sealer:
    """Seals and opens secrets at rest. The keys are read on first use."""

    def __init__(self, keys: list[str] | None = None, key_file: Path | None = None) -> None:
        assert keys or key_file is not None
        self._keys = keys
        self._key_file = key_file
        self._lock = threading.Lock()
        self._fernet: MultiFernet | None = None
        self._primary: Fernet | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Sealer:
        keys = encryption_key_list(settings.encryption_keys)
        if keys:
            return cls(keys)
        return cls(key_file=key_file_for(settings.database_url))

    def _load(self) -> tuple[MultiFernet, Fernet]:
        with self._lock:
            if self._fernet is None or self._primary is None:
                keys = self._keys
                if not keys:
                    assert self._key_file is not None
                    keys = [_read_or_create(self._key_file)]
                fernets = [Fernet(key.encode("ascii")) for key in keys]
                self._fernet, self._primary = MultiFernet(fernets), fernets[0]
            return self._fernet, self._primary

    def seal(self, secret: str) -> str:
        fernet, _ = self._load()
        return PREFIX + fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret in `stored` (sealed, or an older clear-text value as it is)."""
        if not stored.startswith(PREFIX):
            return stored
        fernet, _ = self._load()
        try:
            return fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise RuntimeError(
                "a secret at rest was sealed with a key that is not in `encryption_keys`; "
                "add the key it was sealed with (keep old keys after the new first one)"
            ) from None

    def needs_resealing(self, stored: str) -> bool:
        """Clear text, or sealed by a key other than the first."""
        if not stored.startswith(PREFIX):
            return True
        _, primary = self._load()
        try:
            primary.decrypt(stored[len(PREFIX) :].encode("ascii"))
        except InvalidToken:
            return True
        return False

    def reseal(self, stored: str) -> str:
        return self.seal(self.open(stored))
