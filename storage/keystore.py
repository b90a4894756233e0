"""Where the person's age identity is kept: the OS keyring, a 0600 file, or a passphrase file.

The identity decrypts everything recorded about the person, so it never sits in a file
readable by others. Three kinds of slot, chosen at creation or rotation:

    keys/person.keyring         marker (JSON: service, account, public key); the secret
                                lives in the OS keyring (Secret Service, Keychain, ...)
    keys/person.agekey          stock age key file, 0600 (`age -d -i` reads it)
    keys/person.agekey.age      that key file encrypted with a passphrase (age scrypt;
                                `age -d` asks for the passphrase), plus a `.pub` sidecar

Rotation moves the current slot to ``keys/retired/person-<UTC time>.<kind>`` and creates a
new one: new chunks go to the new recipient, and readers try every identity, current
first, so old chunks stay readable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyrage

from storage.atomic import fsync_dir, write_atomic
from storage.errors import KeyMaterialError
from storage.keys import (
    PERSON_IDENTITY,
    AgeKeyPair,
    age_identity_text,
    generate_age_identity,
    load_age_identity,
    parse_age_identity,
    write_age_identity,
)

KEYRING_SERVICE = "capture-agent"
PERSON_COMMENT = "capture-agent: your own identity; it decrypts what is recorded about you"
KEYRING_MARKER = "person.keyring"
PASSPHRASE_IDENTITY = PERSON_IDENTITY + ".age"
PUBLIC_SIDECAR = ".pub"
RETIRED_DIR = "retired"
PASSPHRASE_ENV = "CAPTURE_AGENT_PASSPHRASE"
KEYRING_ENV = "CAPTURE_AGENT_KEYRING"  # "0" disables the OS keyring (tests, headless)

Where = Literal["auto", "keyring", "file", "passphrase"]
SlotKind = Literal["keyring", "file", "passphrase"]
AskPassphrase = Callable[[str], str]

_SUFFIXES: dict[SlotKind, str] = {
    "keyring": ".keyring",
    "file": ".agekey",
    "passphrase": ".agekey.age",
}


@dataclass(frozen=True)
class IdentitySlot:
    """One stored identity: where it is, its public recipient, and when it was retired."""

    kind: SlotKind
    path: Path
    public: str | None
    retired: str | None = None  # UTC stamp, None for the current identity


@dataclass(frozen=True)
class RotationResult:
    """What `keys rotate` did."""

    old_public: str
    new_public: str
    retired_slot: Path
    new_slot: IdentitySlot


def keyring_status() -> tuple[bool, str]:
    """(usable, backend name): whether the OS keyring can hold the identity here."""
    if os.environ.get(KEYRING_ENV) == "0":
        return False, f"disabled by {KEYRING_ENV}=0"
    try:
        import keyring
        from keyring.backend import KeyringBackend

        backend: KeyringBackend = keyring.get_keyring()
    except Exception as exc:
        return False, f"keyring unavailable ({type(exc).__name__})"
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    try:
        priority = float(backend.priority)
    except Exception:
        priority = 0.0
    usable = priority > 0 and not name.startswith(
        ("keyring.backends.fail", "keyring.backends.null")
    )
    return usable, name


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _account(keys_dir: Path, stamp: str) -> str:
    # One account per identity and home: rotation never overwrites a retired secret.
    home = hashlib.sha256(str(keys_dir.resolve()).encode()).hexdigest()[:16]
    return f"person:{home}:{stamp}"


def store_identity(
    keys_dir: Path,
    pair: AgeKeyPair,
    where: Where = "auto",
    passphrase: str | None = None,
    name: str = "person",
) -> IdentitySlot:
    """Store ``pair`` as the current identity; ``auto`` means keyring if usable, else file."""
    kind: SlotKind
    if where == "auto":
        kind = "passphrase" if passphrase else ("keyring" if keyring_status()[0] else "file")
    else:
        kind = where
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys_dir / f"{name}{_SUFFIXES[kind]}"
    if kind == "keyring":
        usable, backend = keyring_status()
        if not usable:
            raise KeyMaterialError(
                f"no usable OS keyring here ({backend}); keep the identity in a file instead"
            )
        import keyring

        account = _account(keys_dir, _stamp())
        try:
            keyring.set_password(KEYRING_SERVICE, account, pair.secret)
        except Exception as exc:
            raise KeyMaterialError(
                f"the OS keyring refused the identity ({type(exc).__name__})"
            ) from None
        marker = {"service": KEYRING_SERVICE, "account": account, "public": pair.public}
        write_atomic(path, (json.dumps(marker, indent=2) + "\n").encode(), mode=0o600)
    elif kind == "passphrase":
        if not passphrase:
            raise KeyMaterialError("a passphrase-protected identity needs a passphrase")
        text = age_identity_text(pair, PERSON_COMMENT)
        sealed = pyrage.passphrase.encrypt(text.encode("ascii"), passphrase)
        write_atomic(path, bytes(sealed), mode=0o600)
        write_atomic(
            path.with_name(path.name + PUBLIC_SIDECAR),
            f"{pair.public}\n".encode("ascii"),
            mode=0o600,
        )
    else:
        write_age_identity(path, pair, PERSON_COMMENT)
    return IdentitySlot(kind=kind, path=path, public=pair.public)


def _slot_of(path: Path, retired: str | None) -> IdentitySlot | None:
    name = path.name
    if name.endswith(PUBLIC_SIDECAR) or name.startswith("."):
        return None
    kind: SlotKind
    if name.endswith(_SUFFIXES["passphrase"]):
        kind = "passphrase"
    elif name.endswith(_SUFFIXES["keyring"]):
        kind = "keyring"
    elif name.endswith(_SUFFIXES["file"]):
        kind = "file"
    else:
        return None
    return IdentitySlot(kind=kind, path=path, public=_public_of(kind, path), retired=retired)


def _public_of(kind: SlotKind, path: Path) -> str | None:
    """The recipient of a slot, read without touching any secret."""
    try:
        if kind == "keyring":
            value = json.loads(path.read_text(encoding="utf-8")).get("public")
            return value if isinstance(value, str) else None
        if kind == "passphrase":
            return path.with_name(path.name + PUBLIC_SIDECAR).read_text("ascii").strip() or None
        for line in path.read_text(encoding="ascii").splitlines():
            if line.startswith("# public key: "):
                return line.split(": ", 1)[1].strip()
        return str(load_age_identity(path).to_public())
    except (OSError, ValueError, KeyMaterialError):
        return None


def list_slots(keys_dir: Path, name: str = "person") -> list[IdentitySlot]:
    """The current identity slot(s), then retired ones, newest first."""
    kinds: tuple[SlotKind, ...] = ("keyring", "passphrase", "file")
    current = [
        slot
        for kind in kinds
        if (slot := _slot_of(keys_dir / f"{name}{_SUFFIXES[kind]}", None)) is not None
        and slot.path.exists()
    ]
    retired: list[IdentitySlot] = []
    folder = keys_dir / RETIRED_DIR
    if folder.is_dir():
        for path in sorted(folder.iterdir(), reverse=True):
            if not path.name.startswith(f"{name}-"):
                continue
            stamp = path.name[len(name) + 1 :].split(".", 1)[0]
            slot = _slot_of(path, stamp)
            if slot is not None:
                retired.append(slot)
    return current + retired


def passphrase_from_env_or_terminal(what: str) -> str:
    """Ask on the terminal, or read CAPTURE_AGENT_PASSPHRASE when there is none."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    import sys

    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"passphrase for {what}: ")
    raise KeyMaterialError(
        f"{what} is passphrase-protected: run on a terminal or set {PASSPHRASE_ENV}"
    )


def load_slot(slot: IdentitySlot, ask: AskPassphrase | None = None) -> pyrage.x25519.Identity:
    """The secret identity of one slot (asks for a passphrase when the slot needs one)."""
    if slot.kind == "file":
        return load_age_identity(slot.path)
    if slot.kind == "keyring":
        try:
            marker = json.loads(slot.path.read_text(encoding="utf-8"))
            service, account = str(marker["service"]), str(marker["account"])
        except (OSError, ValueError, KeyError, TypeError):
            raise KeyMaterialError(f"{slot.path}: malformed keyring marker") from None
        usable, backend = keyring_status()
        if not usable:
            raise KeyMaterialError(
                f"{slot.path}: the identity is in the OS keyring, which is "
                f"not usable here ({backend})"
            )
        import keyring

        try:
            secret = keyring.get_password(service, account)
        except Exception as exc:
            raise KeyMaterialError(
                f"the OS keyring refused to give the identity ({type(exc).__name__})"
            ) from None
        if secret is None:
            raise KeyMaterialError(f"{slot.path}: the OS keyring has no entry {account!r}")
        return parse_age_identity(secret, f"keyring entry {account}")
    try:
        sealed = slot.path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"{slot.path}: cannot read: {exc.strerror or exc}") from None
    passphrase = (ask or passphrase_from_env_or_terminal)(str(slot.path))
    try:
        text = bytes(pyrage.passphrase.decrypt(sealed, passphrase)).decode("ascii")
    except Exception:
        raise KeyMaterialError(f"{slot.path}: wrong passphrase, or the file is damaged") from None
    return parse_age_identity(text, str(slot.path))


def load_identities(
    keys_dir: Path, ask: AskPassphrase | None = None, name: str = "person"
) -> list[pyrage.x25519.Identity]:
    """Every identity of ``name``: current first, then retired (readers try them all).

    A retired slot that cannot be opened is skipped (its chunks will say they cannot be
    decrypted); a current slot that cannot be opened is an error.
    """
    slots = list_slots(keys_dir, name)
    if not slots:
        raise KeyMaterialError(
            f"{keys_dir}: no {name} identity found (keyring marker, "
            f"{name}.agekey or {name}.agekey.age)"
        )
    cached: dict[str, str] = {}

    def remembered(what: str) -> str:
        # One passphrase prompt for all slots that share it.
        if "last" not in cached:
            cached["last"] = (ask or passphrase_from_env_or_terminal)(what)
        return cached["last"]

    identities: list[pyrage.x25519.Identity] = []
    for slot in slots:
        try:
            identities.append(load_slot(slot, remembered))
        except KeyMaterialError:
            if slot.retired is None:
                raise
    return identities


def retire_current(keys_dir: Path, name: str = "person") -> tuple[IdentitySlot, Path]:
    """Move the current slot to ``retired/`` with a UTC stamp; return (old slot, new path)."""
    current = [s for s in list_slots(keys_dir, name) if s.retired is None]
    if not current:
        raise KeyMaterialError(f"{keys_dir}: no current {name} identity to rotate")
    slot = current[0]
    folder = keys_dir / RETIRED_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = _stamp()
    target = folder / f"{name}-{stamp}{_SUFFIXES[slot.kind]}"
    if target.exists():
        raise KeyMaterialError(f"{target}: exists; wait a second and retry")
    os.replace(slot.path, target)
    sidecar = slot.path.with_name(slot.path.name + PUBLIC_SIDECAR)
    if sidecar.exists():
        os.replace(sidecar, target.with_name(target.name + PUBLIC_SIDECAR))
    fsync_dir(folder)
    fsync_dir(keys_dir)
    return slot, target


def rotate_identity(
    keys_dir: Path, config_file: Path, where: Where = "auto", passphrase: str | None = None
) -> RotationResult:
    """Make a new person identity, retire the old one, point the config at the new one.

    The config's ``[recipients] person`` value is replaced in place (the rest of the file
    is untouched). A running agent picks the new recipient up at its next start.
    """
    slots = [s for s in list_slots(keys_dir) if s.retired is None]
    if not slots or not slots[0].public:
        raise KeyMaterialError(
            f"{keys_dir}: no current person identity with a known public key to rotate"
        )
    old = slots[0]
    old_public = old.public
    assert old_public is not None
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyMaterialError(f"{config_file}: cannot read: {exc.strerror or exc}") from None
    if text.count(f'"{old_public}"') != 1:
        raise KeyMaterialError(
            f"{config_file}: the current identity's recipient "
            f"{old_public} is not the single [recipients] person value; "
            "nothing was changed"
        )
    pair = generate_age_identity()
    if where == "auto":
        where = old.kind
    _, retired_path = retire_current(keys_dir)
    try:
        slot = store_identity(keys_dir, pair, where, passphrase)
    except Exception:
        # Put the old identity back: a failed rotation changes nothing.
        with contextlib.suppress(OSError):
            os.replace(retired_path, old.path)
        raise
    write_atomic(
        config_file, text.replace(f'"{old_public}"', f'"{pair.public}"').encode(), mode=0o600
    )
    return RotationResult(
        old_public=old_public, new_public=pair.public, retired_slot=retired_path, new_slot=slot
    )
