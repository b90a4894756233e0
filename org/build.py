"""`org build`: uploaded sessions to a training dataset (sharded Parquet), on one machine or many.

Layout of a build folder (docs/EVENTS.md, "Dataset" has the columns)::

    OUT/actions/<device>/<session>-<first>-<last>.parquet   one row per action
    OUT/frames/<device>/<session>-<first>-<last>.parquet    one row per frame (WebP bytes)

A shard holds chunks ``first``..``last`` (their sequence numbers) of one session. The
unit of work is such a range: ``plan`` lists the chunks in the store, drops those an
existing shard already covers, and makes one unit of the rest of each session; so a
rerun writes nothing new and a new day's uploads add shards beside the old ones, which
are never rewritten. ``build_unit`` is a pure function of the unit's chunk bytes and
the keys: the same input gives the same bytes, on any worker (Parquet is written with
fixed options and no timestamps). ``run`` maps it over the units with Dask
(``distributed``): an embedded LocalCluster by default, a real cluster by address.
Workers read the chunks from the store themselves and decrypt them with the
organisation identity, which travels in the task as an argument (in memory, over the
cluster's connections) and is never written to shared storage.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from org.errors import OrgError
from org.pull import RAW, FolderSource, ObjectSource, S3Source, _org_prefix
from storage.chunk import CHUNK_SUFFIX
from storage.errors import IntegrityError

ACTIONS = "actions"
FRAMES = "frames"
_SHARD = re.compile(
    r"^(?P<session>[A-Za-z0-9._-]+)-(?P<first>[0-9]{6,})-(?P<last>[0-9]{6,})\.parquet$"
)
# Device and session names become folder and file names: never "." or "..", never hidden.
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
# A unit is held in a worker's memory whole: at most an hour of 30-second chunks (a
# device that uploads thousands of chunks into one session gets several units).
MAX_UNIT_CHUNKS = 120
# Frames are WebP already: compressing them again costs CPU for nothing. Actions are
# small and repetitive: zstd. Row groups of 64 frames keep random access cheap.
_FRAME_ROW_GROUP = 64


@dataclass(frozen=True)
class SourceSpec:
    """Where the chunks are, as plain data: each worker opens its own connection.

    ``kind`` is ``s3`` (a bucket, the reader credentials from the worker's environment),
    ``folder`` (a shared folder written by the folder transport) or ``pulled`` (the
    ``raw/`` mirror an `org pull` or `org verify --out` left).
    """

    kind: str
    location: str
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""
    org: str = ""

    def open(self) -> ObjectSource:
        """A connection to the store."""
        if self.kind == "s3":
            return S3Source(self.location, endpoint_url=self.endpoint_url, region=self.region)
        if self.kind == "pulled":
            return FolderSource(Path(self.location) / RAW)
        return FolderSource(Path(self.location))

    @property
    def base(self) -> str:
        """The key prefix under which devices' folders lie."""
        return "" if self.kind == "pulled" else _org_prefix(self.prefix, self.org)

    def key(self, device: str, session: str, name: str) -> str:
        """The object key of one file of a session."""
        if self.kind == "pulled":
            return f"{device}/sessions/{session}/{name}"
        return f"{self.base}{device}/{session}/{name}"

    def parse(self, key: str) -> tuple[str, str, int] | None:
        """(device, session, seq) of a chunk's key, or None for anything else."""
        parts = key[len(self.base) :].split("/") if key.startswith(self.base) else []
        if self.kind == "pulled" and len(parts) == 4 and parts[1] == "sessions":
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3 or not parts[2].endswith(CHUNK_SUFFIX):
            return None
        device, session, name = parts
        stem = name[: -len(CHUNK_SUFFIX)]
        if not (_NAME.match(device) and _NAME.match(session) and stem.isdigit() and stem.isascii()):
            return None
        return device, session, int(stem)


@dataclass(frozen=True)
class Unit:
    """Chunks of one session built into one pair of shards."""

    device: str
    session: str
    seqs: tuple[int, ...]

    @property
    def name(self) -> str:
        """The shards' file name: ``<session>-<first>-<last>.parquet``."""
        return f"{self.session}-{self.seqs[0]:06d}-{self.seqs[-1]:06d}.parquet"


@dataclass
class UnitResult:
    """One unit's shards (Parquet bytes) and what could not be used."""

    unit: Unit
    actions: bytes
    frames: bytes
    rows: int = 0
    frame_rows: int = 0
    chunks: int = 0
    input_bytes: int = 0
    problems: list[str] = field(default_factory=list)


def covered(out: Path) -> dict[tuple[str, str], set[int]]:
    """Chunk numbers each (device, session) already has a shard for (its actions file)."""
    done: dict[tuple[str, str], set[int]] = {}
    root = out / ACTIONS
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        for path in sorted(folder.glob("*.parquet")):
            match = _SHARD.match(path.name)
            if match and (out / FRAMES / folder.name / path.name).is_file():
                seqs = range(int(match["first"]), int(match["last"]) + 1)
                done.setdefault((folder.name, match["session"]), set()).update(seqs)
    return done


def plan(spec: SourceSpec, out: Path, device: str | None = None) -> list[Unit]:
    """The units still to build: per session, each run of consecutive chunks no shard in
    ``out`` covers (in units of at most ``MAX_UNIT_CHUNKS``)."""
    found: dict[tuple[str, str], set[int]] = {}
    source = spec.open()
    for obj in source.list(spec.base + (f"{device}/" if device else "")):
        parsed = spec.parse(obj.key)
        if parsed is not None:
            found.setdefault(parsed[:2], set()).add(parsed[2])
    done = covered(out)
    units = []
    for (dev, session), seqs in sorted(found.items()):
        for run in _runs(sorted(seqs - done.get((dev, session), set()))):
            for at in range(0, len(run), MAX_UNIT_CHUNKS):
                units.append(Unit(dev, session, tuple(run[at : at + MAX_UNIT_CHUNKS])))
    return units


def _runs(seqs: list[int]) -> list[list[int]]:
    """Consecutive runs of chunk numbers: a shard never spans a gap, so a chunk uploaded
    late (its upload retried after the next one's) is built when it arrives."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and runs[-1][-1] == seq - 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return runs


# -- the pure transform ------------------------------------------------------------------


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _schemas() -> tuple[Any, Any]:
    import pyarrow as pa

    actions = pa.schema(
        [
            ("device", pa.string()),
            ("session", pa.string()),
            ("step", pa.int32()),
            ("ts", pa.float64()),
            ("action", pa.string()),
            ("button", pa.string()),
            ("x", pa.int64()),
            ("y", pa.int64()),
            ("to_x", pa.int64()),
            ("to_y", pa.int64()),
            ("dx", pa.int64()),
            ("dy", pa.int64()),
            ("key", pa.string()),
            ("text", pa.string()),
            ("redacted", pa.bool_()),
            ("redaction", pa.string()),
            ("redacted_length", pa.int32()),
            ("duration", pa.float64()),
            ("frame", pa.string()),
            ("frame_ts", pa.float64()),
            ("frame_left", pa.int64()),
            ("frame_top", pa.int64()),
            ("window_title", pa.string()),
            ("window_app", pa.string()),
            ("sensitivity", pa.int8()),
        ]
    )
    frames = pa.schema(
        [
            ("frame", pa.string()),
            ("device", pa.string()),
            ("session", pa.string()),
            ("ts", pa.float64()),
            ("trigger", pa.string()),
            ("left", pa.int64()),
            ("top", pa.int64()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("sensitivity", pa.int8()),
            ("image", pa.binary()),
        ]
    )
    return actions, frames


def _parquet(rows: list[dict[str, Any]], schema: Any, compression: str, row_group: int) -> bytes:
    """Rows as Parquet bytes, written the same way every time (no timestamps inside)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression=compression,
        row_group_size=row_group,
        write_statistics=True,
        store_schema=True,
    )
    return buffer.getvalue()


def _sensitivity(value: object) -> int:
    number = _int(value)
    return min(max(number, 1), 4) if number is not None else 4


def _action_row(unit: Unit, step: int, record: dict[str, Any]) -> dict[str, Any]:
    action, seen = record["action"], record["observation"]
    redaction = _str(action.get("redacted"))
    return {
        "device": unit.device,
        "session": unit.session,
        "step": step,
        "ts": _float(record.get("ts")),
        "action": _str(action.get("type")),
        "button": _str(action.get("button")),
        "x": _int(action.get("x")),
        "y": _int(action.get("y")),
        "to_x": _int(action.get("to_x")),
        "to_y": _int(action.get("to_y")),
        "dx": _int(action.get("dx")),
        "dy": _int(action.get("dy")),
        "key": _str(action.get("key")),
        "text": _str(action.get("text")),
        "redacted": redaction is not None,
        "redaction": redaction,
        "redacted_length": _int(action.get("length")),
        "duration": _float(action.get("duration")),
        "frame": _str(seen.get("frame")),
        "frame_ts": _float(seen.get("frame_ts")),
        "frame_left": _int(seen.get("frame_left")),
        "frame_top": _int(seen.get("frame_top")),
        "window_title": _str(seen.get("title")),
        "window_app": _str(seen.get("app")),
        "sensitivity": _sensitivity(record.get("sensitivity")),
    }


def _check(manifest: dict[str, Any], unit: Unit, seq: int, pinned: list[str]) -> None:
    """Signature (by a pinned key, else the key the chunk names) and place of a chunk."""
    from storage.chunk import check_signature
    from storage.keys import public_key_from_text

    named = manifest.get("signing_key")
    keys = pinned or ([named] if isinstance(named, str) else [])
    for text in keys:
        try:
            check_signature(manifest, public_key_from_text(text))
            break
        except (IntegrityError, ValueError):
            continue
    else:
        raise IntegrityError("the manifest signature does not verify with the device's key")
    if (manifest.get("device"), manifest.get("session"), manifest.get("seq")) != (
        unit.device,
        unit.session,
        seq,
    ):
        raise IntegrityError("the manifest names another device, session or chunk number")


def build_unit(
    unit: Unit, chunks: Iterable[tuple[int, bytes]], identities: list[Any], pinned: list[str]
) -> UnitResult:
    """One unit's action and frame shards from its chunks' ciphertext (a pure function).

    ``chunks`` are (seq, chunk file bytes). A chunk that does not decrypt, verify or
    belong here is named in ``problems``, and the unit is not to be written: shards are
    never rewritten, so one must not stand for chunks it lacks (a rerun tries again).
    Frames are ``<device>/<session>/<n>`` (n: the frame's event number in the session).
    """
    from storage.compose import full_frames
    from storage.reader import in_time_order, open_chunk_data
    from storage.trajectory import to_trajectory

    records: list[dict[str, Any]] = []
    frame_rows: list[dict[str, Any]] = []
    result = UnitResult(unit, b"", b"")
    for seq, data in sorted(chunks, key=lambda item: item[0]):
        what = f"{unit.device}/{unit.session}/{seq:06d}{CHUNK_SUFFIX}"
        result.input_bytes += len(data)
        try:
            opened = open_chunk_data(data, identities, what)
            _check(opened.manifest, unit, seq, pinned)
            chunk = opened.chunk()
            events = list(chunk.events())
        except IntegrityError as exc:
            message = str(exc) if str(exc).startswith(what) else f"{what}: {exc}"
            result.problems.append(f"{message}; its session's new shards were not written")
            continue
        result.chunks += 1
        images = full_frames(events, chunk.members)  # changed regions composed: whole screens
        for record in events:
            member = record.pop("file", None)
            record.pop("bands", None)
            record["session"] = unit.session
            if isinstance(member, str) and member in images:
                frame = f"{unit.device}/{unit.session}/{Path(member).stem}"
                record["file"] = frame
                frame_rows.append(
                    {
                        "frame": frame,
                        "device": unit.device,
                        "session": unit.session,
                        "ts": _float(record.get("ts")),
                        "trigger": _str(record.get("trigger")),
                        "left": _int(record.get("left")),
                        "top": _int(record.get("top")),
                        "width": _int(record.get("width")),
                        "height": _int(record.get("height")),
                        "sensitivity": _sensitivity(record.get("sensitivity")),
                        "image": images[member],
                    }
                )
            records.append(record)
    steps = [
        _action_row(unit, n, step) for n, step in enumerate(to_trajectory(in_time_order(records)))
    ]
    frame_rows.sort(key=lambda row: (row["ts"] if row["ts"] is not None else 0.0, row["frame"]))
    actions_schema, frames_schema = _schemas()
    result.actions = _parquet(steps, actions_schema, "zstd", 100_000)
    result.frames = _parquet(frame_rows, frames_schema, "none", _FRAME_ROW_GROUP)
    result.rows, result.frame_rows = len(steps), len(frame_rows)
    return result


# -- running it --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _opened(spec: SourceSpec) -> ObjectSource:
    """One connection per store and process: an S3 client loads its service model
    (hundreds of JSON files) when made, which cost more than building a small unit."""
    return spec.open()


def run_unit(spec: SourceSpec, unit: Unit, secret: list[str], pinned: list[str]) -> UnitResult:
    """Read a unit's chunks from the store and build it (what each worker runs).

    ``secret`` is the organisation identity's text: parsed here, in memory only.
    """
    from storage.keys import parse_age_identity

    identities = [parse_age_identity(text, "the organisation identity") for text in secret]
    source = _opened(spec)
    chunks = [
        (seq, source.get(spec.key(unit.device, unit.session, f"{seq:06d}{CHUNK_SUFFIX}")))
        for seq in unit.seqs
    ]
    return build_unit(unit, chunks, identities, pinned)


@dataclass
class BuildResult:
    """What a build wrote."""

    units: list[UnitResult] = field(default_factory=list)
    workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form for `org build --json`."""
        return {
            "shards": sum(not u.problems for u in self.units),
            "workers": self.workers,
            "chunks": sum(u.chunks for u in self.units if not u.problems),
            "actions": sum(u.rows for u in self.units if not u.problems),
            "frames": sum(u.frame_rows for u in self.units if not u.problems),
            "input_bytes": sum(u.input_bytes for u in self.units),
            "problems": [p for u in self.units for p in u.problems],
        }


def write_unit(out: Path, result: UnitResult) -> None:
    """Write a unit's shards: frames first, then actions (which mark the unit done)."""
    from storage.atomic import write_atomic

    for kind, data in ((FRAMES, result.frames), (ACTIONS, result.actions)):
        folder = out / kind / result.unit.device
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(folder / result.unit.name, data)


def run(
    spec: SourceSpec,
    out: Path,
    secret: list[str],
    pinned: dict[str, list[str]],
    *,
    workers: int,
    scheduler: str | None = None,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BuildResult:
    """Build every unit not built yet into ``out``.

    ``workers`` 0 (and no ``scheduler``): in this process. Otherwise on Dask: the
    cluster at ``scheduler``, or a LocalCluster of ``workers`` processes.
    """
    units = plan(spec, out, device)
    result = BuildResult()
    done = 0

    def finished(unit_result: UnitResult) -> None:
        nonlocal done
        if not unit_result.problems:
            write_unit(out, unit_result)
        result.units.append(unit_result)
        done += 1
        if progress is not None:
            progress(done, len(units))

    if not units:
        return result
    if workers == 0 and scheduler is None:
        for unit in units:
            finished(run_unit(spec, unit, secret, pinned.get(unit.device, [])))
        return result
    with _client(workers, scheduler) as client:
        result.workers = len(client.scheduler_info().get("workers", {}))
        futures = [
            client.submit(
                run_unit,
                spec,
                unit,
                secret,
                pinned.get(unit.device, []),
                pure=False,
                key=f"build-{unit.device}-{unit.name}",
            )
            for unit in units
        ]
        from distributed import as_completed

        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            finished(future.result())
    result.units.sort(key=lambda u: (u.unit.device, u.unit.name))
    return result


class _client:
    """A Dask client on ``scheduler``, or on a LocalCluster it starts and stops."""

    def __init__(self, workers: int, scheduler: str | None) -> None:
        self.workers, self.scheduler = workers, scheduler
        self.cluster: Any = None
        self.client: Any = None

    def __enter__(self) -> Any:
        import logging

        from distributed import Client, LocalCluster

        try:
            if self.scheduler is not None:
                self.client = Client(self.scheduler, timeout="30s")  # type: ignore[no-untyped-call]
            else:
                self.cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster)  # type: ignore[no-untyped-call]
        except OSError as exc:
            self.__exit__(None, None, None)
            where = self.scheduler or "a local cluster"
            raise OrgError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
        return self.client

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
