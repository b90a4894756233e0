"""`capture-agent run`: record in the foreground, after asking a person who never decided."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.cli.common import load_home_config
from agent.cli.common import out as _out
from agent.errors import AgentError
from agent.paths import Paths, resolve_paths

if TYPE_CHECKING:
    from agent.config import Config


def cmd_run(args: argparse.Namespace) -> int:
    """Record in the foreground until SIGINT/SIGTERM."""
    from agent.cli.tray import tray_alongside
    from agent.logsetup import setup_logging
    from agent.runtime.daemon import Daemon
    from capture.base import Source

    _refuse_root(args.allow_root)
    paths = resolve_paths()
    config = load_home_config(paths)
    setup_logging(
        paths.log_file, args.log_level or config.log.level, root=paths.root_of(paths.log_file)
    )
    sources: list[Source] | None = None
    if args.replay:
        from capture.scripted import ScriptedSource, TraceError

        try:
            sources = [ScriptedSource.from_file(Path(args.replay), speed=args.speed)]
        except TraceError as exc:
            raise AgentError(f"--replay: {exc}") from None
    _ask_consent_on_first_run(paths, config)
    daemon = Daemon(paths, config, sources=sources, exit_when_replayed=not args.keep_running)
    with tray_alongside(args.tray):
        return daemon.run()


def _refuse_root(allowed: bool) -> None:
    """Refuse to record as root (euid 0) unless ``--allow-root``, before anything is read.

    The agent records one person's session into that person's home; as root, any
    mistake in handling that home (a planted link, a foreign file) would act with
    root's rights on the whole machine.
    """
    from agent.errors import CannotCapture

    if allowed or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    raise CannotCapture(
        "refusing to run as root: run capture-agent as the person being recorded "
        "(or pass --allow-root to run as root anyway)"
    )


def _ask_consent_on_first_run(paths: Paths, config: Config) -> None:
    """On a terminal, a person who never decided is asked before anything is recorded."""
    from agent.runtime.consent import ConsentRuntime

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    consent = ConsentRuntime(paths, config)
    if consent.machine.state.name.value != "no_consent":
        return
    _out("capture-agent records your mouse, keyboard, window titles and screen, encrypted")
    _out("to your organisation's key and your own, after on-device privacy filters.")
    _out("You can pause (up to 30 minutes), opt out, and see everything it holds at any time.")
    answer = input("Start recording now? [y/N] ").strip().lower()
    if answer in ("y", "yes"):
        consent.opt_in()
        _out("Opted in. `capture-agent pause` pauses, `capture-agent opt-out` stops.")
    else:
        _out("Not recording. Run `capture-agent opt-in` whenever you want to start.")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run` to the CLI's subcommands."""
    p = sub.add_parser(
        "run", help="record in the foreground until Ctrl-C or SIGTERM", description=cmd_run.__doc__
    )
    p.add_argument(
        "--replay",
        metavar="TRACE.jsonl",
        help="replay a JSON Lines trace instead of the real input (tests, benchmarks)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay speed factor; 0 replays as fast as possible (default 1)",
    )
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="with --replay: keep running after the trace ends",
    )
    p.add_argument(
        "--tray",
        action="store_true",
        help="also show the tray icon (`capture-agent tray`, in a child process)",
    )
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--allow-root",
        action="store_true",
        help="run even as root (refused by default: the agent belongs to one person's account)",
    )
    p.set_defaults(func=cmd_run)
