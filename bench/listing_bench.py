"""Listing benchmark: `ls` over thousands of chunks, from metadata records vs full decrypts.

    .venv/bin/python bench/listing_bench.py [--chunks 2000] [--frame-bytes 50000]

Writes N chunks (each with one frame of random bytes, like a WebP screenshot, plus a few
events) and times reading every manifest (1) from the small `.meta` records, as `ls` and
`status` do, and (2) by decrypting and opening every whole chunk. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from capture.events import Frame, Key
from storage.reader import list_chunks, read_chunk, read_manifest
from storage.writer import ChunkWriter


def run(folder: Path, chunks: int, frame_bytes: int) -> dict[str, float | int]:
    """Write the chunks, time both ways of listing them, return the figures."""
    identity = pyrage.x25519.Identity.generate()
    writer = ChunkWriter(
        folder, "bench", "s", [str(identity.to_public())], Ed25519PrivateKey.generate()
    )
    start = time.perf_counter()
    for n in range(chunks):
        for i in range(20):
            writer.add(n * 21 + i, Key(ts=float(n), mono=float(n), key="a", pressed=True, char="a"))
        writer.add(
            n * 21 + 20,
            Frame(
                ts=float(n), mono=float(n), width=1920, height=1080, image=os.urandom(frame_bytes)
            ),
        )
        writer.seal()
    write_s = time.perf_counter() - start
    refs = list_chunks(folder)
    start = time.perf_counter()
    with_meta = [read_manifest(ref, [identity])["events"] for ref in refs]
    meta_s = time.perf_counter() - start
    start = time.perf_counter()
    full = [read_chunk(ref, [identity]).manifest["events"] for ref in refs]
    full_s = time.perf_counter() - start
    assert with_meta == full
    total = sum(ref.size for ref in refs)
    return {
        "chunks": len(refs),
        "stored_mb": round(total / 1e6, 1),
        "write_s": round(write_s, 2),
        "ls_with_meta_s": round(meta_s, 3),
        "ls_full_decrypt_s": round(full_s, 3),
        "speedup": round(full_s / meta_s, 1) if meta_s else 0.0,
        "per_chunk_meta_ms": round(1000 * meta_s / len(refs), 3),
        "per_chunk_full_ms": round(1000 * full_s / len(refs), 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--frame-bytes", type=int, default=50_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="listing-bench-") as tmp:
        figures = run(Path(tmp), args.chunks, args.frame_bytes)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
