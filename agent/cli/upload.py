"""`capture-agent upload`, `forget`, `org pull` and `org verify`: where chunks go, and back.

``register(sub)`` adds the commands to the main parser (after `cli_org.register`, so that
`pull` and `verify` join the existing `org` command). ``python -m agent.cli.upload``
runs them on their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from agent.cli.common import home as _home
from agent.cli.common import human_bytes as _human_bytes
from agent.cli.common import out as _out
from agent.cli.common import sessions_dir as _sessions_dir
from agent.errors import AgentError, ConfigError
from storage.errors import StorageError

EXIT_DATA_PROBLEM = 1
EXIT_USAGE = 2


# -- upload -------------------------------------------------------------------------------


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


def _policy_stop(paths: Any) -> str | None:
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

    paths, config = _home()
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
    sessions = _sessions_dir(paths, config)
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


# -- forget -------------------------------------------------------------------------------


def cmd_forget(args: argparse.Namespace) -> int:
    """Delete what was recorded in the last DURATION and is not uploaded yet."""
    from agent.runtime.control import request
    from agent.runtime.daemon import is_running
    from storage.forget import forget, parse_duration

    try:
        seconds = parse_duration(args.last)
    except ValueError as exc:
        raise AgentError(f"--last {exc}") from None
    paths, config = _home()
    sessions = _sessions_dir(paths, config)
    chunks, _ = forget(sessions, seconds, dry_run=True)
    # The chunk being recorded now lives in the daemon's memory only: it is dropped whole
    # (at most `storage.chunk_seconds` of recording, never written to disk).
    open_events = 0
    if is_running(paths):
        try:
            open_events = int(request(paths.socket_path, "status").get("open_chunk_events", 0))
        except AgentError:
            open_events = 0
    if not chunks and not open_events:
        if args.json:
            _out(
                json.dumps(
                    {
                        "deleted": {"chunks": 0, "bytes": 0, "not_uploaded": 0, "sessions": 0},
                        "open_chunk": None,
                    },
                    indent=2,
                )
            )
        else:
            _out(f"nothing recorded in the last {args.last} is waiting on this machine")
        return 0
    parts = []
    if chunks:
        parts.append(f"{len(chunks)} chunk(s), {_human_bytes(sum(c.size for c in chunks))}")
    if open_events:
        parts.append(f"the {open_events} event(s) being recorded now, not sealed yet")
    summary = " and ".join(parts) + f", recorded in the last {args.last}"
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise AgentError(f"forget would delete {summary}: confirm on a terminal, or pass --yes")
        answer = input(f"Delete {summary}? This cannot be undone. [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            _out("nothing was deleted")
            return 0
    dropped: dict[str, int] | None = None
    if is_running(paths):
        # First the open chunk, so that nothing sealed meanwhile escapes the deletion below.
        dropped = request(paths.socket_path, "forget_open")
    _, counts = forget(sessions, seconds)
    if args.json:
        _out(json.dumps({"deleted": counts.to_dict(), "open_chunk": dropped}, indent=2))
    else:
        _out(
            f"deleted {counts.chunks} chunk(s), {_human_bytes(counts.bytes)}; they will not "
            "be uploaded (the deletion is recorded, with counts only)"
        )
        if dropped is not None:
            _out(
                f"dropped {dropped['events']} event(s) and {dropped['frames']} frame(s) "
                "recorded but not sealed yet (never written to disk; a 'forgotten' marker "
                "with these counts takes their place)"
            )
    return 0


# -- org pull / org verify ----------------------------------------------------------------


def _source(args: argparse.Namespace) -> Any:
    from org.pull import FolderSource, S3Source

    if bool(args.folder) == bool(args.bucket):
        raise AgentError("give exactly one of --bucket (S3) or --folder (a shared folder)")
    if args.folder:
        return FolderSource(Path(args.folder))
    return S3Source(args.bucket, endpoint_url=args.endpoint_url, region=args.region)


def _device_keys(pairs: list[str] | None) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for pair in pairs or []:
        device, sep, key = pair.partition("=")
        if not sep or not device or not key:
            raise AgentError(
                f"--device-key {pair!r}: expected DEVICE=PUBLIC_KEY "
                "(the key `capture-agent keys show` prints on the device)"
            )
        keys.setdefault(device, []).append(key)
    return keys


def _pull(args: argparse.Namespace, out: Path, decrypt: bool) -> int:
    from org.pull import PullResult, download, verify_devices
    from storage.keys import load_age_identity

    identities = [load_age_identity(Path(p)) for p in args.identity]
    device_keys = _device_keys(args.device_key)
    source = _source(args)
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise AgentError(f"{out}: cannot create: {exc.strerror or exc}") from None
    result = PullResult()
    result.downloaded, result.skipped = download(source, args.prefix, args.org, out, args.device)
    result.devices = verify_devices(out, identities, device_keys, decrypt)
    if args.json:
        _out(json.dumps(result.to_dict(), indent=2))
    else:
        _out(f"downloaded {result.downloaded} object(s) ({result.skipped} already here)")
        for device in result.devices:
            report = device.report
            line = (
                f"{device.device}: {report.sessions} session(s), {report.chunks} chunk(s), "
                f"{report.verified} verified, {len(report.problems)} problem(s); "
                f"signing key pinned: {device.pinned}"
            )
            if decrypt:
                line += f"; {device.decrypted_chunks} decrypted, {device.events} events"
            _out(line)
            for problem in report.problems:
                _out(f"  {problem.kind}: {problem.message}")
        if decrypt:
            _out(f"decrypted data: {out}/<device>/<session>/events.jsonl and <seq>.zip")
    return 0 if result.ok else EXIT_DATA_PROBLEM


def cmd_org_pull(args: argparse.Namespace) -> int:
    """Download uploads, verify signatures and chains, decrypt what verifies."""
    return _pull(args, Path(args.out), decrypt=True)


def cmd_org_verify(args: argparse.Namespace) -> int:
    """Download uploads (ciphertext only) and verify signatures and chains; exit 1 if not ok."""
    if args.out:
        return _pull(args, Path(args.out), decrypt=False)
    with tempfile.TemporaryDirectory(prefix="capture-org-verify-") as tmp:
        return _pull(args, Path(tmp), decrypt=False)


def _org_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bucket",
        help="S3 bucket (reader credentials from the usual AWS "
        "sources: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role)",
    )
    p.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="S3-compatible server (MinIO, Ceph, SeaweedFS); omit for AWS",
    )
    p.add_argument("--region", help="S3 region")
    p.add_argument("--folder", metavar="DIR", help="read a shared folder instead of S3")
    p.add_argument("--prefix", default="", help="key prefix the devices use ([upload] prefix)")
    p.add_argument("--org", required=True, help="organisation name in object keys ([upload] org)")
    p.add_argument("--device", help="only this device")
    p.add_argument(
        "--identity",
        action="append",
        required=True,
        metavar="FILE",
        help="organisation age identity (repeatable)",
    )
    p.add_argument(
        "--device-key",
        action="append",
        metavar="DEVICE=KEY",
        help="pin a device's signing key (repeatable); without it the key named "
        "by the device's chunks is pinned on first use, and the report says so",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _org_subparsers(sub: Any) -> Any:
    """The `org` command's subparsers, when `cli_org.register` has already added it."""
    org = getattr(sub, "choices", {}).get("org")
    if org is None:
        return None
    for action in org._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def register(sub: Any) -> None:
    """Add `upload`, `forget`, and `org pull` / `org verify` (or `org-pull` / `org-verify`)."""
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

    p = sub.add_parser(
        "forget",
        help="delete what was recorded recently, before upload",
        description=cmd_forget.__doc__,
    )
    p.add_argument(
        "--last", required=True, metavar="DURATION", help="how far back: 90s, 10m, 2h, 1d"
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_forget)

    org_sub = _org_subparsers(sub)
    pull_name, verify_name = (
        ("pull", "verify") if org_sub is not None else ("org-pull", "org-verify")
    )
    target = org_sub if org_sub is not None else sub
    p = target.add_parser(
        pull_name,
        help="download, verify and decrypt uploaded chunks",
        description=cmd_org_pull.__doc__,
    )
    _org_source_arguments(p)
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="where ciphertext (raw/) and decrypted folders go",
    )
    p.set_defaults(func=cmd_org_pull)
    p = target.add_parser(
        verify_name,
        help="verify uploaded chunks without decrypting them to disk",
        description=cmd_org_verify.__doc__,
    )
    _org_source_arguments(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="keep the downloaded ciphertext here (default: a temporary folder)",
    )
    p.set_defaults(func=cmd_org_verify)


def main(argv: Sequence[str] | None = None) -> int:
    """Run these commands on their own (the same errors and exit codes as `capture-agent`)."""
    from agent.cli.main import _Parser
    from org.cli import register as register_org

    parser = _Parser(prog="capture-agent", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    register_org(sub)
    register(sub)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except AgentError as exc:
        sys.stderr.write(f"capture-agent: error: {exc}\n")
        return exc.exit_code
    except StorageError as exc:
        sys.stderr.write(f"capture-agent: error: {exc}\n")
        return EXIT_DATA_PROBLEM
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
