"""The uploader against the folder transport: hold-back, confirmation, journal, crashes,
retries, forget, and the CLI commands. (tests/storage/test_upload_s3.py: a real S3 server.)"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from capture.events import Key, MouseMove
from storage.deletion import mark_uploaded, uploaded_marker
from storage.forget import forget, parse_duration
from storage.keys import DEVICE_SIGNING_KEY, load_signing_key
from storage.reader import ChunkRef, list_chunks
from storage.upload import (
    FolderTransport,
    PermanentUploadError,
    PutResult,
    TransientUploadError,
)
from storage.uploader import (
    JOURNAL,
    RateLimiter,
    Uploader,
    UploadSettings,
    backoff_delay,
)
from storage.writer import ChunkWriter
from tests.cli_helpers import cli_env, run_cli
from tests.waiting import wait_for

SECRET_TEXT = "hunter2-secret-typed"


def make_home(tmp: Path) -> Path:
    """A CLI-initialised home (config, keys)."""
    home = tmp / "home"
    done = run_cli(home, "init", "--device-id", "dev-a")
    assert done.returncode == 0, done.stderr
    return home


def sessions_of(home: Path) -> Path:
    return home / "data" / "sessions"


def write_chunks(home: Path, session: str, n: int, age: float = 3600.0) -> list[ChunkRef]:
    """Seal ``n`` chunks of a session as the daemon would, sealed ``age`` seconds ago."""
    config = load_config(home / "config.toml")
    writer = ChunkWriter(
        sessions_of(home),
        config.device.id,
        session,
        config.recipient_keys(),
        load_signing_key(home / "keys" / DEVICE_SIGNING_KEY),
    )
    seq = 0
    for i in range(n):
        for j in range(20):
            ts = 1_700_000_000.0 + i * 10 + j * 0.1
            writer.add(seq, MouseMove(ts=ts, mono=ts, x=i, y=j))
            seq += 1
        writer.add(seq, Key(ts=ts, mono=ts, key="a", pressed=True, char=SECRET_TEXT[i % 5]))
        seq += 1
        assert writer.seal() is not None
    refs = list_chunks(sessions_of(home), session)
    when = time.time() - age
    for ref in refs:
        os.utime(ref.path, (when, when))
    return refs


def settings(**kw: object) -> UploadSettings:
    base: dict[str, object] = {
        "org": "acme",
        "device": "dev-a",
        "hold_back": 600.0,
        "base_delay": 0.001,
        "max_delay": 0.01,
    }
    base.update(kw)
    return UploadSettings(**base)  # type: ignore[arg-type]


class CountingTransport(FolderTransport):
    """The folder transport, counting PUTs per key, failing on demand."""

    def __init__(
        self,
        root: Path,
        transient_failures: int = 0,
        permanent: bool = False,
        wrong_checksum: bool = False,
    ) -> None:
        super().__init__(root)
        self.puts: dict[str, int] = {}
        self.transient_failures = transient_failures
        self.permanent = permanent
        self.wrong_checksum = wrong_checksum

    def put(self, key: str, data: bytes, sha256: str) -> PutResult:
        if self.permanent:
            raise PermanentUploadError(f"{key}: the server refused the upload (AccessDenied)")
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientUploadError("cannot reach the server")
        self.puts[key] = self.puts.get(key, 0) + 1
        result = super().put(key, data, sha256)
        if self.wrong_checksum:
            return PutResult(key, "0" * 64, result.size)
        return result


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


def test_uploads_due_chunks_under_idempotent_keys_then_deletes_local(
    home: Path, tmp_path: Path
) -> None:
    refs = write_chunks(home, "S1", 3)
    originals = {r.path.name: r.path.read_bytes() for r in refs}
    metas = {r.meta_path.name: r.meta_path.read_bytes() for r in refs}
    store = tmp_path / "store"
    store.mkdir()
    result = Uploader(sessions_of(home), FolderTransport(store), settings()).run_once()
    assert (result.uploaded, result.failed, result.held_back) == (3, 0, 0)
    for name, data in {**originals, **metas}.items():
        assert (store / "acme" / "dev-a" / "S1" / name).read_bytes() == data
    assert list_chunks(sessions_of(home)) == []
    assert not any(sessions_of(home).rglob("*.uploaded"))
    deletions = [
        json.loads(line) for line in (home / "data" / "deletions.jsonl").read_text().splitlines()
    ]
    assert [d["reason"] for d in deletions] == ["uploaded"]
    assert deletions[0]["deleted"] == {"S1": [[0, 2]]}
    journal = home / "data" / JOURNAL
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    text = journal.read_text()
    assert "char" not in text and "mouse_move" not in text  # identifiers and hashes only
    events = [json.loads(line)["event"] for line in text.splitlines()]
    assert events.count("confirmed") == 6 and events.count("deleted") == 3


def test_hold_back_window_is_respected(home: Path, tmp_path: Path) -> None:
    write_chunks(home, "S1", 2, age=0.0)
    store = tmp_path / "store"
    store.mkdir()
    uploader = Uploader(sessions_of(home), FolderTransport(store), settings())
    result = uploader.run_once()
    assert (result.uploaded, result.held_back) == (0, 2)
    assert not any(store.rglob("*.chunk"))
    # The same chunks, once the window has passed (a clock ten minutes later).
    uploader.clock = lambda: time.time() + 601
    assert uploader.run_once().uploaded == 2
    # --now waives the window: the person chose to send now.
    write_chunks(home, "S2", 1, age=0.0)
    uploader.clock = time.time
    assert uploader.run_once(waive_hold_back=True).uploaded == 1


def test_prefix_goes_first_in_keys(home: Path, tmp_path: Path) -> None:
    write_chunks(home, "S1", 1)
    store = tmp_path / "store"
    store.mkdir()
    Uploader(sessions_of(home), FolderTransport(store), settings(prefix="/fleet/eu/")).run_once()
    assert (store / "fleet" / "eu" / "acme" / "dev-a" / "S1" / "000000.chunk").exists()


def test_a_confirmed_upload_is_not_sent_again_after_a_crash(home: Path, tmp_path: Path) -> None:
    refs = write_chunks(home, "S1", 2)
    store = tmp_path / "store"
    store.mkdir()
    # A crash after the store confirmed chunk 0, before its marker: the journal says so.
    data = refs[0].path.read_bytes()
    FolderTransport(store).put("acme/dev-a/S1/000000.chunk", data, hashlib.sha256(data).hexdigest())
    (home / "data" / JOURNAL).write_text(
        json.dumps(
            {
                "event": "confirmed",
                "key": "acme/dev-a/S1/000000.chunk",
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        + "\n{torn line\n"
    )
    # ...and a crash after chunk 1's marker, before the deletion.
    data1 = refs[1].path.read_bytes()
    mark_uploaded(
        refs[1], "acme/dev-a/S1/000001.chunk", hashlib.sha256(data1).hexdigest(), None, 1.0
    )
    transport = CountingTransport(store)
    result = Uploader(sessions_of(home), transport, settings()).run_once()
    assert result.uploaded == 2 and result.failed == 0
    assert transport.puts == {"acme/dev-a/S1/000000.meta": 1}
    assert list_chunks(sessions_of(home)) == []


def test_a_changed_chunk_under_a_journalled_key_is_sent_again(home: Path, tmp_path: Path) -> None:
    write_chunks(home, "S1", 1)
    store = tmp_path / "store"
    store.mkdir()
    (home / "data" / JOURNAL).write_text(
        json.dumps({"event": "confirmed", "key": "acme/dev-a/S1/000000.chunk", "sha256": "ab" * 32})
        + "\n"
    )
    transport = CountingTransport(store)
    Uploader(sessions_of(home), transport, settings()).run_once()
    assert transport.puts["acme/dev-a/S1/000000.chunk"] == 1


def test_transient_failures_are_retried(home: Path, tmp_path: Path) -> None:
    write_chunks(home, "S1", 1)
    store = tmp_path / "store"
    store.mkdir()
    transport = CountingTransport(store, transient_failures=3)
    result = Uploader(sessions_of(home), transport, settings(attempts=5)).run_once()
    assert (result.uploaded, result.failed) == (1, 0)


def test_failures_keep_the_local_copy(home: Path, tmp_path: Path) -> None:
    refs = write_chunks(home, "S1", 1)
    store = tmp_path / "store"
    store.mkdir()
    for transport in (
        CountingTransport(store, transient_failures=100),
        CountingTransport(store, permanent=True),
        CountingTransport(store, wrong_checksum=True),
    ):
        result = Uploader(sessions_of(home), transport, settings(attempts=3)).run_once()
        assert (result.uploaded, result.failed) == (0, 1), transport
        assert result.errors
        assert refs[0].path.exists() and not uploaded_marker(refs[0]).exists()
    assert not (home / "data" / "deletions.jsonl").exists()


def test_a_missing_folder_is_a_transient_failure(home: Path, tmp_path: Path) -> None:
    write_chunks(home, "S1", 1)
    result = Uploader(
        sessions_of(home), FolderTransport(tmp_path / "unmounted"), settings(attempts=2)
    ).run_once()
    assert result.failed == 1 and "not there" in result.errors[0]


def test_paused_uploader_sends_nothing(home: Path, tmp_path: Path) -> None:
    write_chunks(home, "S1", 2)
    store = tmp_path / "store"
    store.mkdir()
    result = Uploader(
        sessions_of(home), FolderTransport(store), settings(), paused=lambda: True
    ).run_once()
    assert (result.uploaded, result.pending) == (0, 2)


def test_concurrency_and_bandwidth_settings_upload_everything(home: Path, tmp_path: Path) -> None:
    for session in ("S1", "S2", "S3"):
        write_chunks(home, session, 2)
    store = tmp_path / "store"
    store.mkdir()
    result = Uploader(
        sessions_of(home),
        FolderTransport(store),
        settings(concurrency=4, bandwidth_bytes_per_s=50_000_000),
    ).run_once()
    assert result.uploaded == 6
    assert len(list(store.rglob("*.chunk"))) == 6


def test_backoff_is_exponential_with_full_jitter() -> None:
    assert backoff_delay(0, 1.0, 60.0, rand=lambda lo, hi: hi) == 1.0
    assert backoff_delay(3, 1.0, 60.0, rand=lambda lo, hi: hi) == 8.0
    assert backoff_delay(10, 1.0, 60.0, rand=lambda lo, hi: hi) == 60.0
    assert backoff_delay(3, 1.0, 60.0, rand=lambda lo, hi: lo) == 0.0


def test_rate_limiter_spaces_bytes_at_the_average_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(1000, clock=lambda: now[0])
    assert limiter.delay_for(500) == 0.0
    assert limiter.delay_for(1000) == pytest.approx(0.5)
    now[0] = 102.0
    assert limiter.delay_for(10) == 0.0
    assert RateLimiter(0).delay_for(10**9) == 0.0


def test_folder_transport_refuses_keys_that_escape(tmp_path: Path) -> None:
    for key in ("../x", "/abs", "a//b", "a/./b"):
        with pytest.raises(PermanentUploadError):
            FolderTransport(tmp_path).put(key, b"x", hashlib.sha256(b"x").hexdigest())


# -- forget -------------------------------------------------------------------------------


def test_parse_duration() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration("90s") == 90
    assert parse_duration("1.5h") == 5400
    for bad in ("10", "m", "-1m", "0s", "10 minutes"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            parse_duration(bad)


def test_forget_deletes_recent_unuploaded_chunks_only(home: Path) -> None:
    old = write_chunks(home, "OLD", 1, age=3600)
    recent = write_chunks(home, "NEW", 2, age=60)
    uploaded = write_chunks(home, "UP", 1, age=60)
    data = uploaded[0].path.read_bytes()
    mark_uploaded(
        uploaded[0], "acme/dev-a/UP/000000.chunk", hashlib.sha256(data).hexdigest(), None, 1.0
    )
    chunks, counts = forget(sessions_of(home), 600)
    assert sorted((c.ref.session, c.ref.seq) for c in chunks) == [("NEW", 0), ("NEW", 1)]
    assert counts.chunks == 2 and counts.not_uploaded == 2
    assert old[0].path.exists() and uploaded[0].path.exists()
    assert not any(r.path.exists() or r.meta_path.exists() for r in recent)
    record = json.loads((home / "data" / "deletions.jsonl").read_text())
    assert record["reason"].startswith("forget") and record["deleted"] == {"NEW": [[0, 1]]}


def test_forget_cli_confirms_and_deletes(home: Path) -> None:
    write_chunks(home, "NEW", 2, age=30)
    done = _upload_cli(home, "forget", "--last", "10m")
    assert done.returncode == 2 and "pass --yes" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = _upload_cli(home, "forget", "--last", "ten", "--yes")
    assert done.returncode == 2 and "not a duration" in done.stderr
    done = _upload_cli(home, "forget", "--last", "10m", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"]["chunks"] == 2
    assert list_chunks(sessions_of(home)) == []


def _upload_cli(home: Path, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
    """Run `capture-agent ARGS` (as `python -m agent.cli.main`) on ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "agent.cli.main", *args],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_upload_cli_without_configuration_says_so(home: Path) -> None:
    done = _upload_cli(home, "upload")
    assert done.returncode == 78
    err = done.stderr.strip()
    assert "upload is not configured" in err and len(err.splitlines()) == 1


def configure_upload(home: Path, body: str) -> None:
    """Append an [upload] section to the home's config."""
    with (home / "config.toml").open("a") as handle:
        handle.write("\n[upload]\n" + body)


def test_upload_cli_to_a_folder(home: Path, tmp_path: Path) -> None:
    store = tmp_path / "share"
    store.mkdir()
    configure_upload(home, f'transport = "folder"\nfolder = "{store}"\norg = "acme"\n')
    write_chunks(home, "OLD", 2, age=3600)
    write_chunks(home, "NEW", 1, age=0)
    done = _upload_cli(home, "upload", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["uploaded"], result["held_back"]) == (2, 1)
    done = _upload_cli(home, "upload", "--now")
    assert done.returncode == 0 and "uploaded 1 chunk" in done.stdout
    assert sorted(p.relative_to(store).as_posix() for p in store.rglob("*.chunk")) == [
        "acme/dev-a/NEW/000000.chunk",
        "acme/dev-a/OLD/000000.chunk",
        "acme/dev-a/OLD/000001.chunk",
    ]


def test_daemon_uploads_in_the_background(home: Path, tmp_path: Path) -> None:
    from tests.cli_helpers import start_agent, stop_agent, wait_until_running

    store = tmp_path / "share"
    store.mkdir()
    configure_upload(
        home,
        f'transport = "folder"\nfolder = "{store}"\norg = "acme"\n'
        "hold_back_minutes = 0\ninterval_seconds = 1\n",
    )
    assert run_cli(home, "opt-in").returncode == 0
    write_chunks(home, "EARLIER", 2)
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"type":"mouse_move","t":0,"x":1,"y":2}\n')
    proc = start_agent(home, "--replay", str(trace), "--keep-running")
    try:
        wait_until_running(home, proc)

        def uploaded() -> dict[str, Any] | None:
            # Both chunks in the store and counted (the count follows the copy).
            now: dict[str, Any] = json.loads(run_cli(home, "status", "--json").stdout)
            done = len(list(store.rglob("*.chunk"))) >= 2 and now["upload"]["uploaded_total"] >= 2
            return now if done else None

        status = wait_for(uploaded, "two chunks uploaded", timeout=60)
    finally:
        code, err = stop_agent(proc)
    assert code == 0, err
    assert len(list(store.rglob("EARLIER/*.chunk"))) == 2
    assert status["upload"]["uploaded_total"] >= 2
    assert "secret" not in json.dumps(status["upload"]).lower()


def test_org_commands_are_one_group_of_the_one_parser() -> None:
    # `org pull` and `org verify` used to join the group by reaching into argparse's
    # internals, with `org-pull` as a fallback name: now org/cli.py registers all four.
    from agent.cli.main import build_parser

    source = ["--org", "acme", "--identity", "k", "--folder", "f"]
    parser = build_parser()
    assert parser.parse_args(["org", "pull", *source, "--out", "o"]).func.__name__ == (
        "cmd_org_pull"
    )
    assert parser.parse_args(["org", "verify", *source]).func.__name__ == "cmd_org_verify"
    assert parser.parse_args(["org", "keygen", "--out", "o"]).func.__name__ == "cmd_org_keygen"
    with pytest.raises(SystemExit) as usage:
        parser.parse_args(["org-pull", *source, "--out", "o"])
    assert usage.value.code == 2


def test_org_pull_from_a_folder_reproduces_the_export(home: Path, tmp_path: Path) -> None:
    store = tmp_path / "share"
    store.mkdir()
    write_chunks(home, "S1", 3)
    exported = run_cli(home, "export")
    assert exported.returncode == 0, exported.stderr
    Uploader(sessions_of(home), FolderTransport(store), settings()).run_once()
    out = tmp_path / "pulled"
    done = _upload_cli(
        home,
        "org",
        "pull",
        "--folder",
        str(store),
        "--org",
        "acme",
        "--identity",
        str(home / "keys" / "demo-organisation.agekey"),
        "--out",
        str(out),
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["devices"][0]["key_pinned"] == "first use"
    assert (out / "dev-a" / "S1" / "events.jsonl").read_text() == exported.stdout
    assert len(list((out / "dev-a" / "S1").glob("*.zip"))) == 3


def test_upload_cli_obeys_the_fleet_kill_switch(home: Path, tmp_path: Path) -> None:
    from agent.paths import resolve_paths
    from consent.state import BLOCK_POLICY, ConsentMachine

    store = tmp_path / "share"
    store.mkdir()
    configure_upload(home, f'transport = "folder"\nfolder = "{store}"\norg = "acme"\n')
    write_chunks(home, "OLD", 2, age=3600)
    machine = ConsentMachine(resolve_paths({"CAPTURE_AGENT_HOME": str(home)}).consent_state)
    machine.block("the fleet policy says collect = false", BLOCK_POLICY)

    done = _upload_cli(home, "upload", "--now")
    assert done.returncode != 0
    err = done.stderr.strip()
    assert "policy has stopped collection" in err and "collect = false" in err
    assert len(err.splitlines()) == 1
    assert list(store.rglob("*.chunk")) == [] and len(list_chunks(sessions_of(home))) == 2

    machine.unblock(BLOCK_POLICY)  # the policy allows collection again
    done = _upload_cli(home, "upload", "--now")
    assert done.returncode == 0 and "uploaded 2 chunk" in done.stdout
