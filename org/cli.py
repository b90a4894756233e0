"""`capture-agent org ...`: the organisation's side — keys and signed fleet policies."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from storage.atomic import write_atomic

ORG_IDENTITY = "organisation.agekey"
POLICY_KEY = "policy-signing.pem"


def cmd_org_keygen(args: argparse.Namespace) -> int:
    """Create the organisation's age identity and Ed25519 policy-signing key in a folder."""
    from consent.policy import generate_policy_keypair

    out = Path(args.out)
    identity_path, policy_path = out / ORG_IDENTITY, out / POLICY_KEY
    for path in (identity_path, policy_path):
        if path.exists():
            raise AgentError(f"{path}: already exists; nothing was changed")
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise AgentError(f"{out}: cannot create: {exc.strerror or exc}") from None
    from storage.keys import generate_age_identity, write_age_identity

    identity = generate_age_identity()
    write_age_identity(
        identity_path,
        identity,
        "capture-agent organisation identity: decrypts every uploaded chunk",
    )
    keypair = generate_policy_keypair()
    write_atomic(policy_path, keypair.private_pem)
    result = {
        "age_recipient": identity.public,
        "age_identity_file": str(identity_path),
        "policy_public_key": keypair.public,
        "policy_key_id": keypair.key_id,
        "policy_signing_key_file": str(policy_path),
    }
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return 0
    sys.stdout.write(
        f"organisation age recipient:  {identity.public}\n"
        f"  (devices: capture-agent init --org-recipient {identity.public})\n"
        f"policy public key:           {keypair.public}\n"
        f'  (devices\' config.toml: [policy] public_key = "{keypair.public}")\n'
        f"private keys, keep them safe: {identity_path}, {policy_path}\n"
    )
    return 0


def cmd_org_sign_policy(args: argparse.Namespace) -> int:
    """Sign a fleet policy (JSON) with the organisation's policy key, dated now.

    ``issued_at`` is always the signing time (UTC, to the microsecond): agents refuse a
    policy older than one they accepted, so a re-signed policy must be the newest. One
    in the file is replaced, and said so.
    """
    from consent.errors import PolicyError
    from consent.policy import sign_policy

    try:
        policy: Any = json.loads(Path(args.policy).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AgentError(f"{args.policy}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise AgentError(f"{args.policy}: not valid JSON: {exc}") from None
    if not isinstance(policy, dict):
        raise AgentError(f"{args.policy}: expected a JSON object")
    now = dt.datetime.now(dt.UTC)
    if "issued_at" in policy:
        sys.stderr.write(
            f"{args.policy}: issued_at {policy['issued_at']!r} replaced by the signing time\n"
        )
    policy["issued_at"] = now.isoformat(timespec="microseconds")
    if args.lease_hours is not None:
        until = now + dt.timedelta(hours=args.lease_hours)
        policy["not_after"] = until.isoformat(timespec="seconds")
    try:
        key = Path(args.key).read_bytes()
    except OSError as exc:
        raise AgentError(f"{args.key}: cannot read the policy key: {exc.strerror}") from None
    try:
        blob = sign_policy(policy, key)
    except PolicyError as exc:
        raise AgentError(f"{args.policy}: {exc}") from None
    if args.output and args.output != "-":
        write_atomic(Path(args.output), blob, mode=0o644)  # a policy is public, not secret
    else:
        sys.stdout.buffer.write(blob)
    return 0


def register(sub: Any) -> None:
    """Add `org keygen` and `org sign-policy` to the main parser's subcommands."""
    org = sub.add_parser(
        "org", help="the organisation's side: keys and fleet policies", description=__doc__
    )
    org_sub = org.add_subparsers(
        dest="org_command", metavar="COMMAND", parser_class=type(org), required=True
    )

    p = org_sub.add_parser(
        "keygen",
        help="create the organisation identity and policy key",
        description=cmd_org_keygen.__doc__,
    )
    p.add_argument(
        "--out", required=True, metavar="DIR", help="folder for the private keys (created 0700)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_org_keygen)

    p = org_sub.add_parser(
        "sign-policy",
        help="sign a fleet policy",
        description=cmd_org_sign_policy.__doc__,
        epilog="policy fields: version (1), collect (the kill switch), not_after (lease end, "
        "ISO 8601), issued_at (always set to the signing time: agents refuse an older "
        'policy than one they accepted), mode ("opt-in"/"opt-out"), snooze_max_minutes (<= 30), '
        "max_sensitivity (1-4), denylist {apps, titles, urls}, scope {keys, mouse, "
        "window, screen, min_frame_interval}. See docs/CONSENT.md.",
    )
    p.add_argument("policy", metavar="POLICY.json", help="the unsigned policy")
    p.add_argument("--key", required=True, metavar="FILE", help="the policy-signing key (PEM)")
    p.add_argument("--lease-hours", type=float, metavar="H", help="set not_after to now + H hours")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    p.set_defaults(func=cmd_org_sign_policy)
