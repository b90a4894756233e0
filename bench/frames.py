"""Frame storage study: what each way of storing screen frames costs in bytes and CPU.

Raw frames of the reference scene (``bench.x11_scene``, 1920x1080, terminals being
typed into, scrolled and switched) are grabbed once a second while the workload runs,
then every strategy encodes the same frames:

- full frames as lossy WebP at several qualities and methods, with PSNR against the
  original as a readability proxy;
- full frames as lossless WebP;
- the agent's own encoder (``capture.screen.frame_encoder``: bands of 2^18 pixels, each
  lossless when it has few colours, else lossy);
- skipping frames whose pixels did not change (what ``FrameMaker`` already does);
- changed region only: the rectangle that changed since the previous frame, found as
  the agent finds it (``capture.screen.frame_diff``), encoded alone, with a full key frame at
  the start of each 30-second chunk (a chunk must be readable alone), counted with the
  same encoder settings.

CPU is the process CPU time of the encode (and of the diff, for changed regions), per
frame. Nothing here touches disk.
"""

from __future__ import annotations

import math
import os
import threading
import time
import zlib
from io import BytesIO
from typing import Any

from PIL import Image, ImageChops, ImageStat

from bench.common import Figure
from bench.x11_scene import start_scene, workload
from capture.screen.frame_diff import ChangeTracker
from capture.screen.frame_encoder import FrameEncoder
from storage.compose import decode_frame

CHUNK_SECONDS = 30.0


def grab_frames(seconds: float, every: float = 1.0) -> list[Image.Image]:
    """Frames (RGB images) of the scene taken every ``every`` seconds while it is driven."""
    scene = start_scene()
    try:
        os.environ["DISPLAY"] = scene.server.display
        import mss

        stop = threading.Event()
        driver = threading.Thread(target=workload, args=(scene, seconds), daemon=True)
        frames: list[Image.Image] = []
        with mss.MSS() as grabber:
            driver.start()
            start = time.monotonic()
            while driver.is_alive():
                shot = grabber.grab(grabber.monitors[0])
                frames.append(
                    Image.frombuffer("RGB", shot.size, shot.raw, "raw", "BGRX", 0, 1).copy()
                )
                time.sleep(max(0.0, start + len(frames) * every - time.monotonic()))
        stop.set()
        driver.join()
        return frames
    finally:
        os.environ.pop("DISPLAY", None)
        scene.stop()


def _encode(image: Image.Image, **options: Any) -> tuple[list[bytes], float]:
    cpu = time.process_time()
    if options.get("agent"):  # the agent's own encoder: per band, lossless or lossy
        return FrameEncoder().encode(image), time.process_time() - cpu
    out = BytesIO()
    image.save(out, format="WEBP", **options)
    return [out.getvalue()], time.process_time() - cpu


def _psnr(a: Image.Image, data: list[bytes]) -> float:
    b = decode_frame(data[0], data[1:])
    rms = ImageStat.Stat(ImageChops.difference(a, b)).rms
    mse = sum(r * r for r in rms) / len(rms)
    return float("inf") if mse == 0 else 20 * math.log10(255 / math.sqrt(mse))


def study(
    frames: list[Image.Image],
    every: float = 1.0,
    settings: list[tuple[str, dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Bytes, CPU and PSNR per frame for each strategy on the same frames."""
    settings = settings or [
        ("lossy q30 m0", {"quality": 30, "method": 0}),
        ("lossy q50 m0", {"quality": 50, "method": 0}),
        ("lossy q50 m2", {"quality": 50, "method": 2}),
        ("lossy q50 m4", {"quality": 50, "method": 4}),
        ("lossy q50 m6", {"quality": 50, "method": 6}),
        ("lossy q75 m2", {"quality": 75, "method": 2}),
        ("lossy q90 m2", {"quality": 90, "method": 2}),
        ("lossless m0", {"lossless": True, "quality": 0, "method": 0}),
        ("lossless q25 m1", {"lossless": True, "quality": 25, "method": 1}),
        ("lossless q0 m1", {"lossless": True, "quality": 0, "method": 1}),
        ("agent: auto, in bands", {"agent": True}),
    ]
    digests = [zlib.crc32(f.tobytes()) for f in frames]
    changed = [i for i, d in enumerate(digests) if i == 0 or d != digests[i - 1]]
    key_every = max(1, round(CHUNK_SECONDS / every))
    rows: list[dict[str, Any]] = []
    # The changed region of every changed frame against the previous stored one.
    boxes: dict[int, tuple[int, int, int, int] | None] = {}
    diff_cpu = 0.0
    prev = None
    # The agent's own diff (capture.screen.frame_diff: per-line and per-segment CRC-32s, no kept
    # image), so the boxes are the ones it stores, to 128 pixels across.
    tracker = ChangeTracker()
    for i in changed:
        bgra = frames[i].convert("RGBA").tobytes("raw", "BGRA")  # what mss hands over
        cpu = time.process_time()
        box, snapshot = tracker.compare(frames[i].width, frames[i].height, bgra)
        tracker.commit(snapshot)
        if prev is not None and i % key_every != 0 and box is not None:
            boxes[i] = (box.x, box.y, box.x + box.width, box.y + box.height)
        else:
            boxes[i] = (0, 0, frames[i].width, frames[i].height)  # a key frame
        diff_cpu += time.process_time() - cpu
        prev = i
        del bgra
    for label, options in settings:
        full_bytes = full_cpu = 0.0
        psnr: list[float] = []
        for n, i in enumerate(changed):
            data, cpu = _encode(frames[i], **options)
            full_bytes += sum(map(len, data))
            full_cpu += cpu
            if n % 5 == 0:
                psnr.append(_psnr(frames[i], data))
        region_bytes = region_cpu = 0.0
        for i in changed:
            crop = boxes[i]
            if crop is None:
                continue
            data, cpu = _encode(frames[i].crop(crop), **options)
            region_bytes += sum(map(len, data))
            region_cpu += cpu
        n_all, n_changed = len(frames), len(changed)
        rows.append(
            {
                "setting": label,
                "frames": n_all,
                "changed": n_changed,
                "full_kb_per_frame": full_bytes / n_changed / 1024,
                "full_ms_per_frame": 1000 * full_cpu / n_changed,
                "psnr_db": min(psnr) if psnr else float("nan"),
                "region_kb_per_frame": region_bytes / n_changed / 1024,
                "region_ms_per_frame": 1000 * (region_cpu + diff_cpu) / n_changed,
                # Stored bytes per hour if a frame were taken every ``every`` s of activity.
                "full_mb_per_hour_all": full_bytes / n_changed * 3600 / every / 2**20,
                "full_mb_per_hour_skip": full_bytes * 3600 / (n_all * every) / 2**20,
                "region_mb_per_hour": region_bytes * 3600 / (n_all * every) / 2**20,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The study as a Markdown table."""
    head = (
        "| setting | KB/frame (full) | CPU ms/frame (full) | min PSNR dB | "
        "KB/frame (changed region) | CPU ms/frame (region, incl. diff) | "
        "MB/h @1 fps, every frame | MB/h, unchanged skipped | MB/h, changed region |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['full_kb_per_frame']:.1f} | {r['full_ms_per_frame']:.0f} | "
            f"{r['psnr_db']:.1f} | {r['region_kb_per_frame']:.1f} | "
            f"{r['region_ms_per_frame']:.0f} | {r['full_mb_per_hour_all']:.1f} | "
            f"{r['full_mb_per_hour_skip']:.1f} | {r['region_mb_per_hour']:.1f} |"
        )
    return "\n".join(lines)


def figures(rows: list[dict[str, Any]]) -> list[Figure]:
    """One summary figure per setting (for the main table)."""
    return [
        Figure(
            f"frames {r['setting']}",
            f"{r['full_kb_per_frame']:.1f} KB, {r['full_ms_per_frame']:.0f} ms",
            note=f"PSNR ≥ {r['psnr_db']:.1f} dB",
        )
        for r in rows
    ]
