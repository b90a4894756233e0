"""`capture-agent org ...`: the organisation's side — keys, signed fleet policies, and
pulling and verifying what the devices uploaded."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from org.errors import OrgError
from storage.atomic import write_atomic

EXIT_DATA_PROBLEM = 1
ORG_IDENTITY = "organisation.agekey"
POLICY_KEY = "policy-signing.pem"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def cmd_org_keygen(args: argparse.Namespace) -> int:
    """Create the organisation's age identity and Ed25519 policy-signing key in a folder."""
    from consent.policy import generate_policy_keypair

    out = Path(args.out)
    identity_path, policy_path = out / ORG_IDENTITY, out / POLICY_KEY
    for path in (identity_path, policy_path):
        if path.exists():
            raise OrgError(f"{path}: already exists; nothing was changed")
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise OrgError(f"{out}: cannot create: {exc.strerror or exc}") from None
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
        raise OrgError(f"{args.policy}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise OrgError(f"{args.policy}: not valid JSON: {exc}") from None
    if not isinstance(policy, dict):
        raise OrgError(f"{args.policy}: expected a JSON object")
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
        raise OrgError(f"{args.key}: cannot read the policy key: {exc.strerror}") from None
    try:
        blob = sign_policy(policy, key)
    except PolicyError as exc:
        raise OrgError(f"{args.policy}: {exc}") from None
    if args.output and args.output != "-":
        write_atomic(Path(args.output), blob, mode=0o644)  # a policy is public, not secret
    else:
        sys.stdout.buffer.write(blob)
    return 0


# -- pull / verify ------------------------------------------------------------------------


def _source(args: argparse.Namespace) -> Any:
    from org.pull import FolderSource, S3Source

    if bool(args.folder) == bool(args.bucket):
        raise OrgError("give exactly one of --bucket (S3) or --folder (a shared folder)")
    if args.folder:
        return FolderSource(Path(args.folder))
    return S3Source(args.bucket, endpoint_url=args.endpoint_url, region=args.region)


def _device_keys(pairs: list[str] | None) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for pair in pairs or []:
        device, sep, key = pair.partition("=")
        if not sep or not device or not key:
            raise OrgError(
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
        raise OrgError(f"{out}: cannot create: {exc.strerror or exc}") from None
    result = PullResult()
    bars = not args.json and _stderr_is_terminal()
    with _progress_bar("downloading", "objects", bars) as progress:
        result.downloaded, result.skipped = download(
            source, args.prefix, args.org, out, args.device, progress
        )
    with _progress_bar("verifying", "chunks", bars) as progress:
        result.devices = verify_devices(out, identities, device_keys, decrypt, progress)
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
            _out(
                f"wrote {sum(d.decrypted_chunks for d in result.devices)} decrypted chunk(s) "
                f"to {out.absolute()}/<device>/<session>/ (events.jsonl and <seq>.zip; "
                f"downloaded objects in {out.absolute() / 'raw'})"
            )
    return 0 if result.ok else EXIT_DATA_PROBLEM


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _progress_bar(label: str, unit: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    """A transient rich bar on stderr (a terminal only); else an update that does nothing.

    The device's CLI has its own (agent/cli/progress.py): org sits below agent and
    cannot import it, and this one is a dozen lines.
    """
    if not enabled:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total or None)


def cmd_org_pull(args: argparse.Namespace) -> int:
    """Download uploads, verify signatures and chains, decrypt what verifies."""
    return _pull(args, Path(args.out), decrypt=True)


def cmd_org_verify(args: argparse.Namespace) -> int:
    """Download uploads (ciphertext only) and verify signatures and chains; exit 1 if not ok."""
    if args.out:
        return _pull(args, Path(args.out), decrypt=False)
    with tempfile.TemporaryDirectory(prefix="capture-org-verify-") as tmp:
        return _pull(args, Path(tmp), decrypt=False)


def cmd_org_build(args: argparse.Namespace) -> int:
    """Build a training dataset (sharded Parquet: actions, frames) from uploaded sessions.

    Reads the chunks from the store (or a pull folder), verifies and decrypts them on
    the workers, and writes OUT/actions/<device>/*.parquet and OUT/frames/<device>/*.parquet
    (their columns are documented with the project's event formats, under "Dataset"). Shards already
    in OUT are kept: a rerun adds only
    shards for chunks not built yet. A session with a chunk that does not verify gets no
    new shard (the chunk is named; exit 1); the other sessions are built.
    """
    from org.build import SourceSpec, run
    from storage.keys import load_age_identity

    given = [bool(args.pulled), bool(args.bucket), bool(args.folder)]
    if sum(given) != 1:
        raise OrgError("give exactly one of --pulled DIR, --bucket (S3) or --folder DIR")
    if not args.pulled and not args.org:
        raise OrgError("--org is needed with --bucket or --folder (the [upload] org)")
    if args.workers is not None and args.workers < 0:
        raise OrgError(f"--workers {args.workers}: give 0 (this process) or more")
    if args.pulled:
        spec = SourceSpec("pulled", args.pulled)
    elif args.bucket:
        spec = SourceSpec(
            "s3", args.bucket, args.endpoint_url, args.region, args.prefix, args.org or ""
        )
    else:
        spec = SourceSpec("folder", args.folder, prefix=args.prefix, org=args.org or "")
    # The secret key lines only (a clear error here, before any worker starts).
    secret = [str(load_age_identity(Path(p))) for p in args.identity]
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise OrgError(f"{out}: cannot create: {exc.strerror or exc}") from None
    workers = args.workers if args.workers is not None else _default_workers()
    with _progress_bar("building", "shards", not args.json and _stderr_is_terminal()) as bar:
        result = run(
            spec,
            out,
            secret,
            _device_keys(args.device_key),
            workers=workers,
            scheduler=args.scheduler,
            device=args.device,
            progress=bar,
        )
    summary = result.to_dict()
    if args.json:
        _out(json.dumps(summary, indent=2))
    else:
        for problem in summary["problems"]:
            _out(f"  problem: {problem}")
        _out(
            f"wrote {summary['shards']} new shard pair(s) to {out.absolute()} "
            f"({summary['actions']} actions, {summary['frames']} frames from "
            f"{summary['chunks']} chunk(s)); shards already there were kept"
        )
    return EXIT_DATA_PROBLEM if summary["problems"] else 0


def _default_workers() -> int:
    import os

    return max(1, min(4, os.cpu_count() or 1))


def _source_arguments(p: argparse.ArgumentParser) -> None:
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


# -- parser -------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `org keygen`, `sign-policy`, `pull`, `verify` and `build` to the CLI."""
    org = sub.add_parser(
        "org",
        help="the organisation's side: keys and fleet policies",
        description="`capture-agent org ...`: the organisation's side — keys and signed "
        "fleet policies.",
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
        "max_sensitivity (1-4), denylist {apps, titles, urls, work_domains (evidence against "
        "blocking), categories (which to enforce; health, mental and reproductive health, "
        "messaging, password managers and private browsing always are), url_detail "
        '("none"/"domain"/"path")}, scope {keys, mouse, '
        "window, screen, min_frame_interval}. Agents verify it with the public key "
        "pinned in their config ([policy] public_key) and stop capture when its lease "
        "ends.",
    )
    p.add_argument("policy", metavar="POLICY.json", help="the unsigned policy")
    p.add_argument("--key", required=True, metavar="FILE", help="the policy-signing key (PEM)")
    p.add_argument("--lease-hours", type=float, metavar="H", help="set not_after to now + H hours")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    p.set_defaults(func=cmd_org_sign_policy)

    p = org_sub.add_parser(
        "pull",
        help="download, verify and decrypt uploaded chunks",
        description=cmd_org_pull.__doc__,
    )
    _source_arguments(p)
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="where ciphertext (raw/) and decrypted folders go",
    )
    p.set_defaults(func=cmd_org_pull)
    p = org_sub.add_parser(
        "verify",
        help="verify uploaded chunks without decrypting them to disk",
        description=cmd_org_verify.__doc__,
    )
    _source_arguments(p)
    p.add_argument(
        "--out",
        metavar="DIR",
        help="keep the downloaded ciphertext here (default: a temporary folder)",
    )
    p.set_defaults(func=cmd_org_verify)

    p = org_sub.add_parser(
        "build",
        help="build a training dataset (Parquet shards) from uploaded sessions",
        description=cmd_org_build.__doc__,
        epilog="examples: `org build --bucket B --org acme --identity org.agekey --out ds/` "
        "(a local Dask cluster), `... --scheduler tcp://10.0.0.5:8786` (a real one: its "
        "workers need capture-agent[dataset] installed and the store's reader credentials "
        "in their environment), `org build --pulled pulled/ --identity org.agekey --out "
        "ds/ --workers 0` (in this process). Load it with "
        '`datasets.load_dataset("parquet", data_files="ds/actions/*/*.parquet")`.',
    )
    p.add_argument("--pulled", metavar="DIR", help="read an `org pull` folder (its raw/)")
    p.add_argument("--bucket", help="S3 bucket (reader credentials from the AWS_* variables)")
    p.add_argument("--endpoint-url", metavar="URL", help="S3-compatible server; omit for AWS")
    p.add_argument("--region", help="S3 region")
    p.add_argument("--folder", metavar="DIR", help="read a shared folder instead of S3")
    p.add_argument("--prefix", default="", help="key prefix the devices use ([upload] prefix)")
    p.add_argument("--org", help="organisation name in object keys ([upload] org)")
    p.add_argument("--device", help="only this device")
    p.add_argument(
        "--identity",
        action="append",
        required=True,
        metavar="FILE",
        help="organisation age identity (repeatable); sent to the workers in memory only",
    )
    p.add_argument(
        "--device-key",
        action="append",
        metavar="DEVICE=KEY",
        help="pin a device's signing key (repeatable); without it each chunk is checked "
        "against the key it names (run `org verify` for the full chain check)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="the dataset folder")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="local Dask worker processes (default: CPUs, at most 4); 0 builds in this process",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler (tcp://host:8786) instead of a local cluster",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_org_build)
