"""Creating a home: configuration, the person's age identity, the device signing key."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import parse_config
from agent.errors import UsageError
from agent.paths import Paths, ensure_private_dir
from storage.atomic import write_atomic
from storage.keys import (
    DEMO_ORG_IDENTITY,
    DEVICE_SIGNING_KEY,
    PERSON_IDENTITY,
    AgeKeyPair,
    generate_age_identity,
    generate_signing_key,
    is_age_recipient,
    public_key_text,
    write_age_identity,
)

CONFIG_TEMPLATE = """\
# capture-agent configuration. Every key is documented in config.example.toml.

[device]
# Written into every chunk's manifest; one id per laptop.
id = "{device_id}"

[recipients]
# Chunks are encrypted to these age public keys: the organisation's (who may read
# uploaded data) and yours (so you can see what is recorded about you).
organisation = [{organisation}]
person = "{person}"

[capture]
keyboard = true
mouse = true
window = true
mouse_move_hz = 60

[capture.screen]
enabled = true
min_interval = 1.0
idle_interval = 30.0
webp_quality = 50

[storage]
chunk_seconds = 30
chunk_max_bytes = 16000000
"""


@dataclass
class InitResult:
    """What `init` created, for the CLI to report."""

    config_file: Path
    person_recipient: str
    organisation_recipients: list[str]
    signing_public_key: str
    demo_identity: Path | None = None
    identity_where: str = ""
    """Where the person's identity went: the OS keyring (and its backend) or a file."""
    notes: list[str] = field(default_factory=list)


def _store_person_identity(paths: Paths, person: AgeKeyPair) -> str:
    """Keep the person's identity in the OS keyring when one is usable, else in a 0600 file.

    A keyring that refuses (locked, no session bus) is not an error: the file is the
    documented fallback, and `keys show` tells which one holds it.
    """
    from storage.errors import KeyMaterialError
    from storage.keystore import keyring_status, store_identity

    usable, backend = keyring_status()
    if usable:
        try:
            store_identity(paths.keys_dir, person, "keyring")
            return f"the OS keyring ({backend})"
        except KeyMaterialError:
            pass
    write_age_identity(
        paths.keys_dir / PERSON_IDENTITY,
        person,
        "capture-agent: your own identity; it decrypts what is recorded about you",
    )
    return str(paths.keys_dir / PERSON_IDENTITY)


def default_device_id() -> str:
    """A device id from the host name plus randomness (unique, not secret)."""
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-.")[:40] or "device"
    return f"{host}-{secrets.token_hex(4)}"


def init_home(paths: Paths, org_recipients: list[str], device_id: str | None = None) -> InitResult:
    """Create config, keys and folders; refuse if a configuration already exists."""
    if paths.config_file.exists():
        raise UsageError(
            f"{paths.config_file}: already initialised; nothing was changed "
            "(remove the home to start over)"
        )
    for recipient in org_recipients:
        if "AGE-SECRET-KEY-" in recipient.upper():
            # Pasted by mistake: never echo it back (terminal scrollback, logs, screen
            # shares), not even in part.
            raise UsageError(
                "--org-recipient: that is a secret key (AGE-SECRET-KEY-...), which must "
                "never leave the organisation; give its public key (age1..., what "
                "`age-keygen -y` prints) instead. Nothing was created; consider the secret "
                "key exposed if it was pasted anywhere shared"
            )
        if not is_age_recipient(recipient):
            shown = recipient if len(recipient) <= 80 else recipient[:80] + "..."
            raise UsageError(
                f"--org-recipient {shown!r}: expected an age X25519 public "
                "key (age1...); nothing was created"
            )
    for folder in paths.all_dirs():
        # Each folder below its root is made or checked without following links: a
        # planted HOME/keys -> elsewhere is refused before any key is written.
        ensure_private_dir(folder, paths.root_of(folder))
    person = generate_age_identity()
    demo_path: Path | None = None
    organisation = list(org_recipients)
    if not organisation:
        demo = generate_age_identity()
        demo_path = paths.keys_dir / DEMO_ORG_IDENTITY
        write_age_identity(
            demo_path,
            demo,
            "capture-agent LOCAL DEMO organisation identity (not a real organisation's key)",
        )
        organisation = [demo.public]
    text = CONFIG_TEMPLATE.format(
        device_id=device_id or default_device_id(),
        organisation=", ".join(f'"{r}"' for r in organisation),
        person=person.public,
    )
    parse_config(text, paths.config_file)  # the template and the keys must form a valid file
    identity_where = _store_person_identity(paths, person)
    signing = generate_signing_key(paths.keys_dir / DEVICE_SIGNING_KEY)
    write_atomic(paths.config_file, text.encode("utf-8"))
    return InitResult(
        config_file=paths.config_file,
        person_recipient=person.public,
        organisation_recipients=organisation,
        signing_public_key=public_key_text(signing),
        demo_identity=demo_path,
        identity_where=identity_where,
    )
