"""The project secret: generated once, encrypted at rest, turned into per-field keys with HKDF.

The key file holds the 32-byte secret encrypted with AES-256-GCM under a key stretched from a
passphrase by Argon2id (memory-hard). Only the key id — an HKDF output that reveals nothing
about the secret — ever travels with encoded files.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from migralink.errors import KeyFileError

KEY_FORMAT = "migralink-key/1"
SECRET_BYTES = 32
MIN_PASSPHRASE = 8
# Argon2id cost: ~64 MiB and a fraction of a second, so guessing passphrases is expensive.
ARGON2 = {"iterations": 3, "lanes": 4, "memory_cost": 64 * 1024}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hkdf(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """Derive an independent key for one purpose (a field, the key id) from the secret."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=f"migralink/v1/{purpose}".encode()
    ).derive(secret)


def key_id_of(secret: bytes) -> str:
    """A fingerprint that names the secret without revealing it (one-way HKDF output)."""
    return "k1-" + hkdf(secret, "key-id", 8).hex()


@dataclass(frozen=True)
class ProjectKey:
    """The unlocked project secret. Give it to encoders; never print or write it."""

    secret: bytes
    generation: int = 1

    @cached_property
    def key_id(self) -> str:
        return key_id_of(self.secret)

    def field_key(self, purpose: str) -> bytes:
        """The HMAC key of one field: its HKDF output written as 64 hex digits (ASCII, the
        form the vectorised HMAC takes; 256 bits of secret either way)."""
        return hkdf(self.secret, f"field/{purpose}").hex().encode("ascii")

    def __repr__(self) -> str:  # never show the secret in logs or tracebacks
        return f"ProjectKey(key_id={self.key_id!r}, generation={self.generation})"


def _stretch(passphrase: str, salt: bytes) -> bytes:
    return Argon2id(salt=salt, length=32, **ARGON2).derive(passphrase.encode("utf-8"))


def _header(key_id: str, generation: int) -> dict:
    return {"format": KEY_FORMAT, "key_id": key_id, "generation": generation}


def write_key(path: Path, passphrase: str, *, generation: int = 1,
              secret: bytes | None = None) -> ProjectKey:
    """Create a new random secret (or store `secret`), encrypt it under `passphrase`, write it."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyFileError(f"a passphrase shorter than {MIN_PASSPHRASE} characters would leave "
                           "the secret weakly protected")
    key = ProjectKey(secret or secrets.token_bytes(SECRET_BYTES), generation)
    salt, nonce = os.urandom(16), os.urandom(12)
    header = _header(key.key_id, generation)
    aad = json.dumps(header, sort_keys=True).encode()
    ciphertext = AESGCM(_stretch(passphrase, salt)).encrypt(nonce, key.secret, aad)
    document = {
        **header,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "kdf": {"name": "argon2id", "salt": _b64(salt), **ARGON2},
        "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write with owner-only permissions: the file is useless without the passphrase,
    # but there is no reason to let others copy it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
    return key


def read_key(path: Path, passphrase: str) -> ProjectKey:
    """Unlock a key file; a wrong passphrase or an altered file gives KeyFileError."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise KeyFileError(f"{path}: not a migralink key file")
        header = _header(document["key_id"], int(document["generation"]))
        salt = base64.b64decode(document["kdf"]["salt"])
        nonce = base64.b64decode(document["cipher"]["nonce"])
        ciphertext = base64.b64decode(document["ciphertext"])
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found") from None
    except (IsADirectoryError, PermissionError) as err:
        raise KeyFileError(f"{path}: cannot read the key file ({err.strerror})") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: damaged key file") from None
    aad = json.dumps(header, sort_keys=True).encode()
    try:
        secret = AESGCM(_stretch(passphrase, salt)).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise KeyFileError(f"{path}: wrong passphrase, or the key file was altered") from None
    key = ProjectKey(secret, header["generation"])
    if key.key_id != header["key_id"]:
        raise KeyFileError(f"{path}: key id does not match the secret")
    return key


def rotate_key(path: Path, passphrase: str) -> tuple[ProjectKey, Path]:
    """A new secret, one generation up, in place of the old; the old file is kept beside it
    (`<name>.gen<N>`) so earlier extracts can still be checked. Returns the new key and where
    the old one went. Every source must then be encoded again: generations never link."""
    old = read_key(path, passphrase)
    kept = path.with_name(f"{path.name}.gen{old.generation}")
    if kept.exists():
        raise KeyFileError(f"{kept}: exists already; move it away before rotating")
    os.replace(path, kept)
    return write_key(path, passphrase, generation=old.generation + 1), kept


def passphrase_from_env(variable: str) -> str:
    """The passphrase comes from an environment variable so it never sits in a config file."""
    value = os.environ.get(variable)
    if not value:
        raise KeyFileError(f"set the passphrase in the environment variable {variable}")
    return value
