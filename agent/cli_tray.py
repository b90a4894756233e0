"""The `capture-agent tray` command: the tray icon, talking to the daemon over the socket."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_tray(args: argparse.Namespace) -> int:
    """Show the tray icon: the measured state, and a menu to snooze, resume, opt in or out."""
    from agent.tray import run_tray

    return run_tray()


def register(subparsers: Any) -> None:
    """Add the `tray` subcommand to the CLI's subparsers."""
    p = subparsers.add_parser("tray", help="show the tray icon (state and a consent menu)",
                              description=cmd_tray.__doc__)
    p.set_defaults(func=cmd_tray)
