"""`capture-agent init`, `service` and `doctor`: set a machine up and check it can record."""

from __future__ import annotations

import argparse
import json
import sys

from agent.cli.common import out as _out
from agent.errors import UsageError
from agent.paths import resolve_paths

# -- init ---------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    """Create a home: configuration, your age identity and the device signing key."""
    from agent.setup.home import init_home

    paths = resolve_paths()
    result = init_home(paths, args.org_recipient or [], args.device_id)
    if args.json:
        _out(
            json.dumps(
                {
                    "config_file": str(result.config_file),
                    "person_recipient": result.person_recipient,
                    "organisation_recipients": result.organisation_recipients,
                    "device_signing_public_key": result.signing_public_key,
                    "demo_organisation_identity": str(result.demo_identity)
                    if result.demo_identity
                    else None,
                    "person_identity_in": result.identity_where,
                },
                indent=2,
            )
        )
        return 0
    _out(f"Initialised {paths.config_dir}")
    _out(f"  config:               {result.config_file}")
    _out(f"  your recipient:       {result.person_recipient}")
    _out(f"  your identity in:     {result.identity_where}")
    _out(f"  device signing key:   {result.signing_public_key} (Ed25519, public)")
    for recipient in result.organisation_recipients:
        _out(f"  organisation:         {recipient}")
    if result.demo_identity:
        _out("")
        _out("No --org-recipient was given, so a LOCAL DEMO organisation identity was created:")
        _out(f"  {result.demo_identity}")
        _out("It is not a real organisation's key; it lives on this machine. For a real")
        _out("deployment, run init with --org-recipient AGE_PUBLIC_KEY from your organisation.")
    _out("")
    _out("Next:")
    _out("  capture-agent doctor            check that this machine can record")
    _out("  capture-agent opt-in            say yes (nothing is recorded before you do)")
    _out("  capture-agent run               record in the foreground (Ctrl-C stops)")
    _out("  capture-agent service install   or: start the agent at every login")
    return 0


# -- service ------------------------------------------------------------------------------


def cmd_service(args: argparse.Namespace) -> int:
    """Install, remove or inspect the service that starts the agent at login."""
    from agent.setup import service

    platform = args.platform or service.current_platform()
    if platform != service.current_platform() and not (args.dry_run and args.action == "install"):
        raise UsageError(
            f"--platform {platform}: only `service install --dry-run` can show "
            "another platform's service"
        )
    spec = service.describe(platform)
    if args.dry_run:
        if args.action == "install":
            _out(f"# would write {spec.path}")
            sys.stdout.write(spec.text)
            _out(f"# then run: {' && '.join(' '.join(c) for c in spec.activate)}")
        elif args.action == "uninstall":
            _out(f"# would run: {' && '.join(' '.join(c) for c in spec.deactivate)}")
            _out(f"# would remove {spec.path}")
        else:
            _out(json.dumps(service.status(spec), indent=2))
        return 0
    if args.action == "install":
        for line in service.install(spec).lines:
            _out(line)
        return 0
    if args.action == "uninstall":
        for line in service.uninstall(spec).lines:
            _out(line)
        return 0
    state = service.status(spec)
    if args.json:
        _out(json.dumps(state, indent=2))
        return 0
    _out(
        f"service file:    {state['path']} "
        + (
            "(installed"
            + (
                ", up to date)"
                if state["up_to_date"]
                else ", differs from what install would write now)"
            )
            if state["installed"]
            else "(not installed)"
        )
    )
    if state["manager_reachable"]:
        _out(f"enabled:         {state['enabled']}")
        if state["active"] is not None:
            _out(f"active:          {state['active']}")
    else:
        _out("service manager: not reachable from here")
    return 0


# -- doctor -------------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check that this machine can record; exit 1 when any check fails."""
    import os

    from agent.setup.doctor import delete_stray_decrypted, run_checks

    paths = resolve_paths()
    # --fix deletes decrypted pages left by older versions of `view` (see check_decrypted).
    fixed = delete_stray_decrypted(paths, os.environ) if args.fix else []
    checks = run_checks(paths)
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        report = {"ok": not failed, "checks": [c.to_dict() for c in checks]}
        if args.fix:
            report["deleted"] = [str(p) for p in fixed]
        _out(json.dumps(report, indent=2))
    else:
        for path in fixed:
            _out(f"deleted {path} (a decrypted page of your recordings)")
        for check in checks:
            _out(f"{check.status:<4}  {check.name:<12} {check.detail}")
            if check.fix and check.status != "ok":
                _out(f"{'':<18} fix: {check.fix}")
        _out("")
        _out(
            "some checks FAILED: capture will not work until they are fixed"
            if failed
            else "no check failed"
        )
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `init`, `service` and `doctor` to the CLI's subcommands."""
    p = sub.add_parser(
        "init",
        help="create a home: config, your key, the device signing key",
        description=cmd_init.__doc__,
    )
    p.add_argument(
        "--org-recipient",
        action="append",
        metavar="AGE_PUBLIC_KEY",
        help="the organisation's age public key (repeatable); without it a local "
        "demo organisation identity is created",
    )
    p.add_argument(
        "--device-id",
        help="device id written into every chunk (default: host name plus random suffix)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser(
        "service",
        help="start the agent at login (systemd user unit, LaunchAgent, logon task)",
        description=(cmd_service.__doc__ or "") + " The service restarts the agent after a crash "
        "only; a restarted agent reads your saved consent state first, so a pause or an "
        "opt-out is never undone by a restart.",
    )
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be installed or run; change nothing",
    )
    p.add_argument(
        "--platform",
        choices=["linux", "darwin", "win32"],
        help="with install --dry-run: show another platform's service file",
    )
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(func=cmd_service)

    p = sub.add_parser(
        "doctor",
        help="check this machine: display, permissions, disk, clock, keys, policy, upload",
        description=cmd_doctor.__doc__,
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument(
        "--fix",
        action="store_true",
        help="delete decrypted pages of your recordings left on disk by older versions of `view`",
    )
    p.set_defaults(func=cmd_doctor)
