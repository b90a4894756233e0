"""Key material: the person's age identity, organisation identities, the device signing key.

The daemon needs only public keys to write (age recipients) plus the device's Ed25519
key to sign manifests. Private age identities are read only by commands that decrypt
(`export`, `ls`), on the person's request.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from storage.atomic import write_atomic
from storage.errors import KeyMaterialError

PERSON_IDENTITY = "person.agekey"
DEMO_ORG_IDENTITY = "demo-organisation.agekey"
DEVICE_SIGNING_KEY = "device-signing.pem"


@dataclass(frozen=True)
class AgeKeyPair:
    """An age X25519 identity (secret) and its recipient (public)."""

    secret: str
    public: str


def generate_age_identity() -> AgeKeyPair:
    """A fresh age X25519 identity."""
    identity = pyrage.x25519.Identity.generate()
    return AgeKeyPair(secret=str(identity), public=str(identity.to_public()))


def is_age_recipient(text: str) -> bool:
    """True when ``text`` is an age X25519 public key."""
    try:
        pyrage.x25519.Recipient.from_str(text)
    except Exception:
        return False
    return True


def age_identity_text(pair: AgeKeyPair, comment: str) -> str:
    """The stock age key-file text of ``pair`` (what `age-keygen` writes, `age -i` reads)."""
    return f"# {comment}\n# public key: {pair.public}\n{pair.secret}\n"


def write_age_identity(path: Path, pair: AgeKeyPair, comment: str) -> None:
    """Store an identity in the stock age key-file format (0600), readable by `age -i`."""
    write_atomic(path, age_identity_text(pair, comment).encode("ascii"), mode=0o600)


def parse_age_identity(text: str, what: str) -> pyrage.x25519.Identity:
    """The identity in age key-file text (comments allowed); ``what`` names its source.

    The one parser of identities: key files, passphrase-protected files once decrypted,
    and OS keyring entries all go through it.
    """
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                return pyrage.x25519.Identity.from_str(line)
            except Exception:
                raise KeyMaterialError(f"{what}: malformed age identity") from None
    raise KeyMaterialError(f"{what}: no AGE-SECRET-KEY line found")


def load_age_identity(path: Path) -> pyrage.x25519.Identity:
    """Read an age key file (comments allowed) and return its identity."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyMaterialError(f"{path}: identity file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyMaterialError(f"{path}: cannot read identity: {exc}") from None
    return parse_age_identity(text, str(path))


def generate_signing_key(path: Path) -> Ed25519PublicKey:
    """Create the device's Ed25519 signing key as a 0600 PEM file; return its public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(path, pem, mode=0o600)
    return key.public_key()


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the device's Ed25519 signing key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(
            f"{path}: cannot read the device signing key: {exc.strerror or exc}"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise KeyMaterialError(f"{path}: malformed device signing key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMaterialError(f"{path}: not an Ed25519 key")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64, as written in manifests and `keys show`."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """Inverse of ``public_key_text``."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError):
        raise KeyMaterialError("malformed Ed25519 public key") from None
