"""`capture-agent keys show` and `keys rotate`: public keys, where identities live, rotation."""

from __future__ import annotations

import argparse
import json
import os
import sys

from agent.cli.common import home
from agent.cli.common import out as _out
from agent.cli.trust import pinned_device_keys
from agent.errors import AgentError, UsageError
from storage.errors import KeyMaterialError


def cmd_keys_show(args: argparse.Namespace) -> int:
    """Print the public recipients, the device's signing public key and where keys live."""
    from storage.keystore import keyring_status, list_slots

    paths, config = home()
    try:
        pinned = pinned_device_keys(paths.keys_dir)
    except KeyMaterialError as exc:
        raise AgentError(str(exc)) from None
    usable, backend = keyring_status()
    slots = list_slots(paths.keys_dir)
    body = {
        "device_id": config.device.id,
        "device_signing_public_key": pinned[0],
        "retired_device_signing_keys": pinned[1:],
        "organisation_recipients": list(config.recipients.organisation),
        "person_recipient": config.recipients.person,
        "identities": [
            {
                "kind": s.kind,
                "path": str(s.path),
                "public": s.public,
                "retired": s.retired,
                "current": s.retired is None,
            }
            for s in slots
        ],
        "keyring": {"usable": usable, "backend": backend},
    }
    if args.json:
        _out(json.dumps(body, indent=2))
        return 0
    _out(f"device:               {config.device.id}")
    _out(f"device signing key:   {pinned[0]} (Ed25519, public; pinned for `verify`)")
    for recipient in config.recipients.organisation:
        _out(f"organisation:         {recipient}")
    _out(f"your recipient:       {config.recipients.person}")
    for slot in slots:
        label = "your identity:" if slot.retired is None else f"retired {slot.retired}:"
        _out(f"{label:<22}{slot.public or '(public key unknown)'} [{slot.kind}: {slot.path}]")
    _out(f"OS keyring:           {'usable' if usable else 'not usable'} ({backend})")
    return 0


def _new_passphrase() -> str:
    from storage.keystore import PASSPHRASE_ENV

    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not sys.stdin.isatty():
        raise UsageError(f"--passphrase needs a terminal to ask on, or {PASSPHRASE_ENV} set")
    import getpass

    first = getpass.getpass("new passphrase: ")
    if not first:
        raise UsageError("an empty passphrase protects nothing; nothing was changed")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passphrases differ; nothing was changed")
    return first


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Make a new identity for new chunks; the old one is kept to read older chunks."""
    from agent.runtime.daemon import is_running
    from storage.keystore import Where, rotate_identity

    paths, _config = home()
    where: Where = (
        "passphrase"
        if args.passphrase
        else "keyring"
        if args.keyring
        else "file"
        if args.file
        else "auto"
    )
    passphrase = _new_passphrase() if where == "passphrase" else None
    try:
        result = rotate_identity(paths.keys_dir, paths.config_file, where, passphrase)
    except KeyMaterialError as exc:
        raise AgentError(str(exc)) from None
    running = is_running(paths)
    if args.json:
        _out(
            json.dumps(
                {
                    "old_recipient": result.old_public,
                    "new_recipient": result.new_public,
                    "retired_identity": str(result.retired_slot),
                    "new_identity": str(result.new_slot.path),
                    "kind": result.new_slot.kind,
                    "restart_needed": running,
                },
                indent=2,
            )
        )
        return 0
    _out(
        f"new recipient:      {result.new_public} [{result.new_slot.kind}: {result.new_slot.path}]"
    )
    _out(f"old identity kept:  {result.retired_slot} (older chunks stay readable)")
    if running:
        _out("The agent is running: restart it so that new chunks use the new key.")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `keys show` and `keys rotate` to the CLI's subcommands."""
    keys = sub.add_parser(
        "keys",
        help="show or rotate keys",
        description="Public keys, where identities live, rotation.",
    )
    keys_sub = keys.add_subparsers(
        dest="keys_command", metavar="COMMAND", parser_class=type(keys), required=True
    )
    p = keys_sub.add_parser(
        "show",
        help="public recipients and the device signing key",
        description=cmd_keys_show.__doc__,
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_keys_show)
    p = keys_sub.add_parser(
        "rotate",
        help="new identity for new chunks; old ones stay readable",
        description=cmd_keys_rotate.__doc__,
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--passphrase",
        action="store_true",
        help="protect the new identity with a passphrase (age scrypt)",
    )
    group.add_argument("--keyring", action="store_true", help="keep it in the OS keyring")
    group.add_argument("--file", action="store_true", help="keep it in a 0600 file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_keys_rotate)
