"""`org build`: uploaded sessions become Parquet shards a lab loads with `datasets`.

The chunks are sealed by the real writer, read from a folder store as `org pull` and the
folder transport lay them out, and the dataset is loaded with Hugging Face `datasets`.
The distributed run is in test_build_distributed.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.org.fleet import ORG, Fleet

S1 = "20260101T000000Z-aaaaaa"
S2 = "20260102T000000Z-bbbbbb"


def build(fleet: Fleet, store: Path, out: Path, *extra: str) -> dict[str, object]:
    done = run_cli(
        fleet.root / "no-home",
        "org",
        "build",
        "--folder",
        str(store),
        "--org",
        ORG,
        "--identity",
        str(fleet.identity_file),
        "--out",
        str(out),
        "--workers",
        "0",
        "--json",
        *extra,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    fleet = Fleet(tmp_path / "fleet")
    fleet.record("dev-a", S1, 3)
    fleet.record("dev-a", S2, 2, start=1_767_312_000.0)
    return fleet


def test_the_dataset_loads_with_datasets_and_every_frame_reference_resolves(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    fleet.publish(store, "dev-a", S1, range(3))
    out = tmp_path / "dataset"
    result = build(fleet, store, out, "--device-key", f"dev-a={fleet.device_key('dev-a')}")
    assert result["problems"] == [] and result["chunks"] == 3
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    import datasets

    actions = datasets.load_dataset(
        "parquet",
        data_files=str(out / "actions" / "*" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    frames = datasets.load_dataset(
        "parquet",
        data_files=str(out / "frames" / "*" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    rows = actions.to_list()
    # Per chunk: click, type "ok", redacted type, scroll, enter.
    assert [r["action"] for r in rows[:5]] == ["click", "type", "type", "scroll", "key"]
    assert len(rows) == 15 and result["actions"] == 15
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    click, typed, secret = rows[0], rows[1], rows[2]
    assert (click["button"], click["x"], click["y"]) == ("left", 10, 20)
    assert click["window_title"] == "Invoice 0 - Editor" and click["window_app"] == "gedit"
    assert (typed["text"], typed["redacted"]) == ("ok", False)
    assert (secret["text"], secret["redacted"], secret["redaction"]) == (None, True, "password")
    assert secret["redacted_length"] == 2
    by_id = {f["frame"]: f for f in frames.to_list()}
    assert len(by_id) == 6
    for row in rows:
        frame = by_id[row["frame"]]  # every action's observation is in the frame shards
        assert frame["ts"] == row["frame_ts"] and frame["ts"] <= row["ts"]
        assert frame["image"][:4] == b"RIFF" and frame["image"][8:12] == b"WEBP"
    # The click's frame is the one before it; the typing's is the late frame stamped
    # before the keys (time order, not arrival order).
    assert by_id[click["frame"]]["trigger"] == "idle"
    assert by_id[typed["frame"]]["trigger"] == "click"


def test_shards_are_deterministic_and_a_new_day_only_adds_shards(
    fleet: Fleet, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    fleet.publish(store, "dev-a", S1, range(2))
    first, again = tmp_path / "one", tmp_path / "two"
    build(fleet, store, first)
    build(fleet, store, again)
    assert tree(first) == tree(again) and len(tree(first)) == 2  # same input, same bytes
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in first.rglob("*.parquet")}
    assert build(fleet, store, first)["shards"] == 0  # nothing new: nothing written
    # The next day: the session's third chunk and a new session arrive.
    fleet.publish(store, "dev-a", S1, range(2, 3))
    fleet.publish(store, "dev-a", S2, range(2))
    result = build(fleet, store, first)
    assert result["shards"] == 2 and result["chunks"] == 3
    for path, (mtime, data) in before.items():
        assert (path.stat().st_mtime_ns, path.read_bytes()) == (mtime, data)
    assert sorted(p.name for p in (first / "actions" / "dev-a").iterdir()) == [
        f"{S1}-000000-000001.parquet",
        f"{S1}-000002-000002.parquet",
        f"{S2}-000000-000001.parquet",
    ]


def test_a_pull_folder_builds_the_same_shards_as_the_store(fleet: Fleet, tmp_path: Path) -> None:
    store, pulled = tmp_path / "store", tmp_path / "pulled"
    fleet.publish(store, "dev-a", S1, range(3))
    done = run_cli(
        fleet.root / "no-home",
        "org",
        "verify",
        "--folder",
        str(store),
        "--org",
        ORG,
        "--identity",
        str(fleet.identity_file),
        "--out",
        str(pulled),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    build(fleet, store, tmp_path / "from-store")
    done = run_cli(
        fleet.root / "no-home",
        "org",
        "build",
        "--pulled",
        str(pulled),
        "--identity",
        str(fleet.identity_file),
        "--out",
        str(tmp_path / "from-pull"),
        "--workers",
        "0",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert tree(tmp_path / "from-pull") == tree(tmp_path / "from-store")
    assert len(tree(tmp_path / "from-pull")) == 2


def test_a_session_with_a_tampered_chunk_waits_and_the_others_are_built(
    fleet: Fleet, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    fleet.publish(store, "dev-a", S1, range(2))
    fleet.publish(store, "dev-a", S2, range(2))
    chunk = store / ORG / "dev-a" / S1 / "000001.chunk"
    data = bytearray(chunk.read_bytes())
    data[-40] ^= 1  # inside the last age payload chunk: decryption fails
    chunk.write_bytes(bytes(data))
    done = run_cli(
        fleet.root / "no-home",
        "org",
        "build",
        "--folder",
        str(store),
        "--org",
        ORG,
        "--identity",
        str(fleet.identity_file),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "0",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"dev-a/{S1}/000001.chunk: " in done.stdout and "Traceback" not in done.stderr
    assert "wrote 1 new shard pair(s)" in done.stdout
    built = sorted(p.name for p in (tmp_path / "out").rglob("*.parquet"))
    assert built == [f"{S2}-000000-000001.parquet"] * 2  # S1 waits: its shard would lack one


def test_usage_errors_are_one_line(fleet: Fleet, tmp_path: Path) -> None:
    done = run_cli(
        fleet.root / "no-home",
        "org",
        "build",
        "--identity",
        str(fleet.identity_file),
        "--out",
        str(tmp_path / "out"),
    )
    assert done.returncode != 0 and "exactly one of --pulled" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_chunk_uploaded_late_is_built_when_it_arrives(fleet: Fleet, tmp_path: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "out"
    fleet.publish(store, "dev-a", S1, range(0, 3, 2))  # chunk 1's upload is still retrying
    build(fleet, store, out)
    fleet.publish(store, "dev-a", S1, range(1, 2))
    assert build(fleet, store, out)["shards"] == 1
    assert sorted(p.name for p in (out / "actions" / "dev-a").iterdir()) == [
        f"{S1}-{n:06d}-{n:06d}.parquet" for n in range(3)
    ]


def test_a_long_session_is_built_in_bounded_units(
    fleet: Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from org import build as org_build

    store = tmp_path / "store"
    fleet.publish(store, "dev-a", S1, range(3))
    monkeypatch.setattr(org_build, "MAX_UNIT_CHUNKS", 2)
    spec = org_build.SourceSpec("folder", str(store), org=ORG)
    assert [u.seqs for u in org_build.plan(spec, tmp_path / "out")] == [(0, 1), (2,)]


def test_store_keys_that_are_not_plain_names_are_ignored(fleet: Fleet, tmp_path: Path) -> None:
    from org.build import SourceSpec

    spec = SourceSpec("folder", str(tmp_path), org=ORG)
    assert spec.parse(f"{ORG}/dev-a/{S1}/000001.chunk") == ("dev-a", S1, 1)
    for key in (
        f"{ORG}/../{S1}/000001.chunk",
        f"{ORG}/dev-a/../000001.chunk",
        f"{ORG}/.hidden/{S1}/000001.chunk",
        f"{ORG}/dev-a/{S1}/\uff11.chunk",  # a full-width digit
        f"{ORG}/dev-a/{S1}/000001.meta",
        f"{ORG}/dev-a/{S1}/x/000001.chunk",
        f"other/dev-a/{S1}/000001.chunk",
    ):
        assert spec.parse(key) is None, key
    # A planted folder in the store is not built.
    store = tmp_path / "store"
    fleet.publish(store, "dev-a", S1, range(1))
    (store / ORG / "dev-a").rename(store / ORG / ".dev-a")
    assert build(fleet, store, tmp_path / "out")["shards"] == 0
