"""`ls` per session with totals, its filters and session names, `ls --uploaded` and the
upload record behind it, and `privacy allow` (issue 21)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from storage import upload_record
from storage.upload import FolderTransport
from storage.uploader import Uploader
from tests.cli_helpers import run_cli
from tests.storage.test_upload import make_home, sessions_of, settings, write_chunks

EARLY = "20231114T221320Z-aaaaaa"  # ids begin with the UTC start time, so they sort
LATE = "20231114T231320Z-bbbbbb"
UPLOAD_KEYS = {
    "session",
    "seq",
    "from_ts",
    "to_ts",
    "bytes",
    "uploaded_ts",
    "destination",
    "key",
    "sha256",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


def lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_ls_groups_by_session_with_totals(home: Path) -> None:
    write_chunks(home, EARLY, 3)
    write_chunks(home, LATE, 2)
    out = lines(run_cli(home, "ls"))
    assert out[0].split() == ["session", "from", "to", "chunks", "events", "frames", "size"]
    assert [line.split()[0] for line in out[1:3]] == [EARLY, LATE]
    assert out[1].split()[4:6] == ["3", "63"]  # chunks, events (21 a chunk)
    assert out[3].startswith("total: 2 session(s), 5 chunk(s), 105 events, 0 frames, ")
    assert out[3].endswith("`--chunks` lists each chunk")
    per_chunk = lines(run_cli(home, "ls", "--chunks"))
    assert len(per_chunk) == 1 + 5 + 1 and per_chunk[-1].startswith("total: 2 session(s)")
    assert len(json.loads(run_cli(home, "ls", "--json").stdout)) == 5


def test_ls_session_by_prefix_or_latest_and_by_time(home: Path) -> None:
    write_chunks(home, EARLY, 1)
    write_chunks(home, LATE, 2)
    by_prefix = json.loads(run_cli(home, "ls", "--session", "20231114T22", "--json").stdout)
    assert {row["session"] for row in by_prefix} == {EARLY}
    latest = json.loads(run_cli(home, "ls", "--session", "latest", "--json").stdout)
    assert {row["session"] for row in latest} == {LATE} and len(latest) == 2
    both = run_cli(home, "ls", "--session", "20231114T")
    assert both.returncode == 2 and "matches 2 sessions" in both.stderr
    # The chunks were recorded in November 2023 (their manifests say so).
    today = run_cli(home, "ls", "--today")
    assert today.returncode == 0
    assert today.stdout.startswith("no chunks stored on this machine since ")
    since = json.loads(run_cli(home, "ls", "--since", "2023-11-01", "--json").stdout)
    assert len(since) == 3
    until = json.loads(run_cli(home, "ls", "--until", "2023-11-01", "--json").stdout)
    assert until == []
    exported = run_cli(home, "export", "--since", "2023-11-01", "--session", "latest")
    assert exported.returncode == 0, exported.stderr
    assert {json.loads(line)["session"] for line in exported.stdout.splitlines()} == {LATE}
    assert run_cli(home, "export", "--today").stdout == ""


def test_ls_with_a_key_that_reads_nothing_does_not_say_nothing_is_stored(
    home: Path, tmp_path: Path
) -> None:
    write_chunks(home, EARLY, 2)
    other = tmp_path / "other.agekey"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    done = run_cli(home, "ls", "--identity", str(other))
    assert done.returncode == 1
    assert done.stdout.strip() == (
        "2 chunk(s) are stored here, but none could be read with the given identity "
        "(see the warnings above)"
    )


def _upload_to_folder(home: Path, store: Path) -> None:
    store.mkdir()
    with (home / "config.toml").open("a") as handle:
        handle.write(f'\n[upload]\ntransport = "folder"\nfolder = "{store}"\norg = "acme"\n')
    done = run_cli(home, "upload")
    assert done.returncode == 0, done.stderr


def test_ls_uploaded_shows_what_left_the_laptop(home: Path, tmp_path: Path) -> None:
    refs = write_chunks(home, EARLY, 3)
    sealed = [ref.path.stat().st_mtime for ref in refs]
    store = tmp_path / "store"
    _upload_to_folder(home, store)
    after = run_cli(home, "ls")
    assert after.returncode == 0
    assert after.stdout.startswith("no chunks stored on this machine; 3 chunk(s) were uploaded")
    assert "capture-agent ls --uploaded" in after.stdout
    text = lines(run_cli(home, "ls", "--uploaded"))
    assert text[1].split()[0] == EARLY and text[1].split()[-5] == "3"  # chunks
    assert (
        text[-1].startswith("total: 3 chunk(s), ") and f"FolderTransport('{store}')" in (text[-1])
    )
    entries = json.loads(run_cli(home, "ls", "--uploaded", "--json").stdout)
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert all(set(e) == UPLOAD_KEYS for e in entries)
    assert entries[0]["from_ts"] == upload_record.session_start(EARLY) == 1_700_000_000.0
    for e, when in zip(entries, sealed, strict=True):
        assert e["to_ts"] == round(when, 3)
        chunk = store / "acme" / "dev-a" / EARLY / f"{e['seq']:06d}.chunk"
        assert e["key"] == f"acme/dev-a/{EARLY}/{e['seq']:06d}.chunk"
        assert e["bytes"] == chunk.stat().st_size + chunk.with_suffix(".meta").stat().st_size
    assert [e["from_ts"] for e in entries[1:]] == [e["to_ts"] for e in entries[:-1]]
    per_chunk = lines(run_cli(home, "ls", "--uploaded", "--chunks"))
    assert any(f"acme/dev-a/{EARLY}/000002.chunk" in line for line in per_chunk)
    record = home / "data" / "uploaded.jsonl"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    raw = [json.loads(line) for line in record.read_text().splitlines()]
    assert all(set(r) == UPLOAD_KEYS for r in raw)  # those facts and nothing else
    none = run_cli(home, "ls", "--uploaded", "--since", "1h")
    assert none.stdout.startswith("nothing recorded here was uploaded since ")


def test_the_upload_record_is_never_written_through_a_planted_link(
    home: Path, tmp_path: Path
) -> None:
    """Attack: uploaded.jsonl made a link to another file of the person's."""
    write_chunks(home, EARLY, 1)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (home / "data" / upload_record.UPLOAD_RECORD).symlink_to(victim)
    store = tmp_path / "store"
    store.mkdir()
    uploader = Uploader(sessions_of(home), FolderTransport(store), settings())
    with pytest.raises(Exception, match="symbolic link"):
        uploader.run_once()
    assert victim.read_text() == "precious\n"
    assert len(list(sessions_of(home).rglob("*.chunk"))) == 1  # kept: not recorded, not gone


def test_a_malformed_upload_record_is_reported_not_trusted(home: Path) -> None:
    good = upload_record.UploadedChunk(
        session=EARLY,
        seq=0,
        from_ts=None,
        to_ts=1_700_000_030.0,
        bytes=123,
        uploaded_ts=1_700_000_100.0,
        destination="FolderTransport('/x')",
        key=f"acme/dev-a/{EARLY}/000000.chunk",
        sha256="0" * 64,
    )
    data_dir = home / "data"
    upload_record.append(data_dir, good)
    upload_record.append(data_dir, good)  # recorded twice across a crash: counted once
    with (data_dir / upload_record.UPLOAD_RECORD).open("a") as handle:
        handle.write('{"session": 5}\nnot json\n\xff\n{"seq": -1}\n')
    entries, problems = upload_record.read(data_dir)
    assert entries == [good] and len(problems) == 4
    done = run_cli(home, "ls", "--uploaded")
    assert done.returncode == 1 and done.stderr.count("malformed line") == 4
    assert "total: 1 chunk(s), 123 B sent" in done.stdout


# -- privacy allow ----------------------------------------------------------------------------


def test_the_person_takes_back_their_own_denylist_entries(home: Path) -> None:
    assert (
        run_cli(home, "privacy", "deny", "--app", "Signal", "--domain", "clinic.test").returncode
        == 0
    )
    assert run_cli(home, "privacy", "deny", "--title", "re:^Journal").returncode == 0
    done = run_cli(home, "privacy", "allow", "--app", "signal")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"removed from {home / 'denylist.toml'}: app signal;")
    mine = json.loads(run_cli(home, "privacy", "denylist", "--json").stdout)["yours"]
    assert mine == [
        {"category": "custom", "apps": [], "titles": [], "domains": ["clinic.test"]},
        {"category": "custom", "apps": [], "titles": ["re:^Journal"], "domains": []},
    ]
    removed = run_cli(home, "privacy", "deny", "--remove", "--domain", "clinic.test", "--json")
    assert json.loads(removed.stdout)["removed"] == ["domain clinic.test"]
    assert stat.S_IMODE((home / "denylist.toml").stat().st_mode) == 0o600


def test_shipped_and_unknown_entries_are_refused_by_name(home: Path) -> None:
    from privacy.denylist import default_rules

    shipped = next(min(rule.apps) for rule in default_rules() if rule.apps)
    before = run_cli(home, "privacy", "denylist", "--json").stdout
    done = run_cli(home, "privacy", "allow", "--app", shipped, "--title", "never denied")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"capture-agent: not removed: app {shipped}: on the list shipped with the agent; "
        "only your own entries can be taken back",
        "capture-agent: not removed: title never denied: not on your denylist "
        "(`capture-agent privacy denylist` shows it)",
    ]
    assert run_cli(home, "privacy", "denylist", "--json").stdout == before
    assert not (home / "denylist.toml").exists()


def test_a_denylist_link_is_replaced_never_written_through(home: Path, tmp_path: Path) -> None:
    """Attack: denylist.toml a link to another file; taking an entry back must not
    rewrite the link's target (the home check refuses the link first, naming it)."""
    target = tmp_path / "elsewhere.toml"
    target.write_text('[[entry]]\napps = ["signal"]\n')
    os.symlink(target, home / "denylist.toml")
    done = run_cli(home, "privacy", "allow", "--app", "signal")
    assert target.read_text() == '[[entry]]\napps = ["signal"]\n'
    assert done.returncode == 78 and "denylist.toml is a symbolic link" in done.stderr
    assert (home / "denylist.toml").is_symlink()


@pytest.mark.parametrize("same_uploader", [True, False], ids=["same uploader", "restarted"])
def test_a_chunk_sent_in_a_later_pass_starts_where_the_last_one_sent_ended(
    home: Path, tmp_path: Path, same_uploader: bool
) -> None:
    refs = write_chunks(home, EARLY, 3)
    young = time.time()
    os.utime(refs[2].path, (young, young))  # inside the hold-back window: a later pass
    store = tmp_path / "store"
    store.mkdir()
    first = Uploader(sessions_of(home), FolderTransport(store), settings())
    assert first.run_once().uploaded == 2
    later = (
        first if same_uploader else Uploader(sessions_of(home), FolderTransport(store), settings())
    )
    assert later.run_once(waive_hold_back=True).uploaded == 1
    entries, problems = upload_record.read(home / "data")
    assert problems == [] and [e.seq for e in entries] == [0, 1, 2]
    assert entries[2].from_ts == entries[1].to_ts and entries[2].to_ts == round(young, 3)
