"""`org build` throughput and the frame-shard format, on made-up uploads.

    python -m bench.org_build --sessions 8 --chunks 20   # ~3 minutes: prints the figures
    python -m bench.org_build --sessions 4     # smaller

Sessions are sealed by the real writer (screens of text drawn with Pillow, stored as
lossless WebP as the agent stores them; input at a typing-and-clicking pace) and put in
a real S3 store (SeaweedFS, tests/seaweed.py). The build is timed end to end: list,
download, verify signatures, decrypt, compose frames, fold the trajectory, write
Parquet. In this process (0 workers), then on a LocalCluster of 1 and 2 processes
(their start-up timed apart). Then the frame shards as built (Parquet, WebP in a binary
column) against the same images in a WebDataset tar: bytes, write and read time.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw

from capture.events import Event, Frame, Key, MouseButton, MouseMove, Window
from storage.writer import ChunkWriter

ORG = "acme"
WORDS = [
    "invoice",
    "total",
    "amount",
    "payable",
    "customer",
    "order",
    "shipped",
    "pending",
    "review",
    "approve",
]


def screen(rng: random.Random, size: tuple[int, int]) -> bytes:
    """A screen of text lines and a few panels, as lossless WebP (method 1, as stored)."""
    image = Image.new("RGB", size, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.randrange(size[0] - 200), rng.randrange(size[1] - 100)
        draw.rectangle((x, y, x + 200, y + 100), fill=(rng.randrange(200, 240),) * 3)
    for row in range(12, size[1] - 12, 14):
        for column in (10, size[0] // 2):
            if rng.random() < 0.8:
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 9)))
                colour = rng.choice([(20, 20, 20), (30, 60, 160), (150, 30, 30)])
                draw.text((column + rng.randrange(0, 40), row), text, fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", lossless=True, method=1)
    return buffer.getvalue()


_KEYS: dict[str, Ed25519PrivateKey] = {}


def record(root: Path, identity: Any, device: str, session: str, chunks: int, seed: int) -> None:
    """Seal ``chunks`` chunks of 30 s each: a window, 3 frames, clicks, typing, moves."""
    rng = random.Random(seed)
    writer = ChunkWriter(
        root / ORG / device,
        device,
        session,
        [str(identity.to_public())],
        _KEYS.setdefault(device, Ed25519PrivateKey.generate()),
    )
    seq, t = 0, 1_767_225_600.0 + seed * 86_400
    for _ in range(chunks):
        events: list[Event] = [Window(ts=t, mono=t, title="Orders - Browser", app="firefox")]
        for f in range(3):
            ft = t + f * 10
            events.append(
                Frame(ts=ft, mono=ft, width=1280, height=800, image=screen(rng, (1280, 800)))
            )
            for i in range(40):
                mt = ft + 1 + i * 0.05
                events.append(MouseMove(ts=mt, mono=mt, x=300 + i, y=200 + i))
            ct = ft + 3
            for pressed in (True, False):
                events.append(MouseButton(ct, ct, 340, 240, "left", pressed))
                ct += 0.08
            for i, c in enumerate(" ".join(rng.choice(WORDS) for _ in range(4))):
                kt = ft + 4 + i * 0.12
                events.append(Key(ts=kt, mono=kt, key=c, pressed=True, char=c))
        for event in events:
            writer.add(seq, event)
            seq += 1
        writer.seal()
        t += 30


def build_once(spec: Any, secret: list[str], out: Path, workers: int) -> tuple[float, Any]:
    """Seconds to build everything into a fresh ``out`` (cluster start-up included)."""
    from org.build import run

    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = run(spec, out, secret, {}, workers=workers)
    return time.perf_counter() - started, result


def cluster_startup(workers: int) -> float:
    """Seconds to start and stop a LocalCluster of ``workers`` processes with a client."""
    import logging

    from distributed import Client, LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)  # type: ignore[no-untyped-call]
    client.close()  # type: ignore[no-untyped-call]
    cluster.close()
    return time.perf_counter() - started


def frame_formats(frames_dir: Path, scratch: Path) -> dict[str, float]:
    """Parquet (as built) against a WebDataset tar of the same WebP images."""
    import pyarrow.parquet as pq

    shards = sorted(frames_dir.rglob("*.parquet"))
    started = time.perf_counter()
    rows = [r for s in shards for r in pq.read_table(s).to_pylist()]
    parquet_read = time.perf_counter() - started
    parquet_bytes = sum(s.stat().st_size for s in shards)
    started = time.perf_counter()
    tar_path = scratch / "frames.tar"
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for row in rows:
            for suffix, data in ((".webp", row["image"]), (".json", repr(row["ts"]).encode())):
                info = tarfile.TarInfo(row["frame"].replace("/", "_") + suffix)
                info.size, info.mtime, info.mode = len(data), 0, 0o600
                tar.addfile(info, io.BytesIO(data))
    tar_write = time.perf_counter() - started
    started = time.perf_counter()
    with tarfile.open(tar_path) as tar:
        n = sum(1 for m in tar if (f := tar.extractfile(m)) is not None and f.read())
    tar_read = time.perf_counter() - started
    assert n == 2 * len(rows)
    images = sum(len(r["image"]) for r in rows)
    return {
        "frames": len(rows),
        "image_mb": images / 1e6,
        "parquet_mb": parquet_bytes / 1e6,
        "tar_mb": tar_path.stat().st_size / 1e6,
        "parquet_read_s": parquet_read,
        "tar_write_s": tar_write,
        "tar_read_s": tar_read,
    }


def _profile(spec: Any, secret: list[str], out: Path) -> None:
    """Where the in-process build spends its time (cumulative, the top functions)."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.runcall(build_once, spec, secret, out, 0)
    pstats.Stats(profile).sort_stats("tottime").print_stats(12)


def main(argv: list[str] | None = None) -> int:
    """Generate, upload, build three ways, compare the frame formats; print the figures."""
    from org.build import SourceSpec
    from tests.seaweed import BUCKET, Seaweed

    parser = argparse.ArgumentParser(prog="python -m bench.org_build", description=__doc__)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=10, help="30-second chunks per session")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each worker count")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-org-build-") as tmp:
        root = Path(tmp)
        identity = pyrage.x25519.Identity.generate()
        for n in range(args.sessions):
            device = f"dev-{n % 2}"
            record(
                root / "staging",
                identity,
                device,
                f"20260101T{n:02d}0000Z-bench{n}",
                args.chunks,
                n,
            )
        server = Seaweed(root / "seaweed")
        server.start()
        try:
            admin = server.client(server.admin)
            total = 0
            for path in sorted((root / "staging").rglob("*")):
                if path.suffix in (".chunk", ".meta"):
                    key = path.relative_to(root / "staging").as_posix()
                    admin.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
                    total += path.stat().st_size if path.suffix == ".chunk" else 0
            os.environ.update(server.reader.env())
            spec = SourceSpec("s3", BUCKET, server.endpoint, "us-east-1", "", ORG)
            secret = [str(identity)]
            chunks = args.sessions * args.chunks
            print(f"load average before: {os.getloadavg()}; {os.cpu_count()} CPUs")
            print(f"input: {args.sessions} sessions, {chunks} chunks, {total / 1e6:.1f} MB")
            for workers in [w for _ in range(args.repeat) for w in (0, 1, 2)]:
                startup = cluster_startup(workers) if workers else 0.0
                seconds, result = build_once(spec, secret, root / f"out{workers}", workers)
                work = seconds - startup
                print(
                    f"workers={workers}: {seconds:.1f} s wall ({startup:.1f} s cluster start), "
                    f"{args.sessions / work:.2f} sessions/s, {total / 1e6 / work:.2f} MB/s "
                    f"({total / 1e6 / work / max(workers, 1):.2f} MB/s per worker), "
                    f"{result.to_dict()['actions']} actions, {result.to_dict()['frames']} frames"
                )
            print("frames:", frame_formats(root / "out0" / "frames", root))
            _profile(spec, secret, root / "profiled")
            print(f"load average after: {os.getloadavg()}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
