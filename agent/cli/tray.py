"""The `capture-agent tray` command, and the tray beside `capture-agent run --tray`."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from collections.abc import Iterator


def cmd_tray(args: argparse.Namespace) -> int:
    """Show the tray icon: the measured state, and a menu to snooze, resume, opt in or out."""
    from agent.tray.ui import run

    return run()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `tray` subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "tray", help="show the tray icon (state and a consent menu)", description=cmd_tray.__doc__
    )
    p.set_defaults(func=cmd_tray)


@contextlib.contextmanager
def tray_alongside(enabled: bool) -> Iterator[None]:
    """With ``enabled``, run `capture-agent tray` in a child process for the block's length.

    A child, not a thread: pystray wants the main thread, and the daemon's main thread
    handles signals. Its own session, so Ctrl-C stops the daemon, which then stops it.
    """
    if not enabled:
        yield
        return
    tray = subprocess.Popen(
        [sys.executable, "-m", "agent.cli.main", "tray"],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        if tray.poll() is None:
            tray.terminate()
            try:
                tray.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                tray.kill()
                tray.wait()
