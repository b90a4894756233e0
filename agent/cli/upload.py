"""`capture-agent upload`: send sealed chunks now, as the agent does by itself every interval."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator

from agent.cli.common import EXIT_DATA_PROBLEM, home, sessions_dir
from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import out as _out
from agent.errors import AgentError, ConfigError
from agent.paths import Paths


@contextlib.contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("uploading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task("upload", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _policy_stop(paths: Paths) -> str | None:
    """The fleet kill switch's reason when it is on (as the daemon last saved it), else None.

    The daemon's uploader pauses while the policy blocks; a manual upload obeys the same
    block. A block saved by a daemon that has stopped since still counts (fail closed):
    it lifts when the agent runs again and the policy allows collection.
    """
    from consent.state import BLOCK_POLICY, ConsentMachine

    return ConsentMachine(paths.consent_state).blocks.get(BLOCK_POLICY)


def cmd_upload(args: argparse.Namespace) -> int:
    """Upload sealed chunks now (the agent also does it by itself, every interval)."""
    from storage.uploader import Uploader, UploadSettings, build_transport

    paths, config = home()
    if config.upload.transport == "none":
        raise ConfigError(
            f"{paths.config_file}: upload is not configured; set [upload] "
            'transport = "folder" or "s3" (see config.example.toml)'
        )
    stopped = _policy_stop(paths)
    if stopped:
        raise AgentError(
            f"the organisation's policy has stopped collection ({stopped}): "
            "nothing is uploaded until it allows collection again; the chunks "
            "stay encrypted on this machine"
        )
    sessions = sessions_dir(paths, config)
    sessions.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings = UploadSettings.from_config(config.upload, config.device.id)
    uploader = Uploader(sessions, build_transport(config.upload), settings)
    with _progress_bar(sys.stderr.isatty() and not args.json) as progress:
        result = uploader.run_once(waive_hold_back=args.now, progress=progress)
    if args.json:
        _out(json.dumps(result.to_dict(), indent=2))
    else:
        _out(f"uploaded {result.uploaded} chunk(s), {_human_bytes(result.bytes)}")
        if result.held_back:
            _out(
                f"{result.held_back} chunk(s) sealed less than "
                f"{config.upload.hold_back_minutes:g} min ago wait for the hold-back window "
                "(`forget --last` can still delete them; `upload --now` sends them)"
            )
        for message in result.errors:
            sys.stderr.write(f"capture-agent: upload failed: {message}\n")
    return EXIT_DATA_PROBLEM if result.failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `upload` to the CLI's subcommands."""
    p = sub.add_parser(
        "upload",
        help="upload sealed chunks now",
        description=(cmd_upload.__doc__ or "") + " Chunks sealed less than "
        "[upload] hold_back_minutes ago wait, so `forget` can still delete "
        "them; --now sends them too.",
    )
    p.add_argument(
        "--now", action="store_true", help="also upload chunks still inside the hold-back window"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_upload)
