"""Changed-region frames: finding the region, storing it, composing full frames back."""

from __future__ import annotations

import base64
import io
import json
import random
from pathlib import Path
from typing import Any

import pyrage
import pytest
from PIL import Image, ImageChops, ImageDraw

from capture.events import Frame
from capture.screen.frame_diff import BAND, Box, ChangeTracker, crop_bgra
from capture.screen.frame_encoder import FrameEncoder
from capture.screen.frame_maker import FrameMaker, RawShot
from storage.chunk import parse_manifest
from storage.compose import compose, decode_frame, full_frames
from storage.errors import FormatError
from storage.keys import generate_age_identity, generate_signing_key, load_signing_key
from storage.reader import list_chunks, read_chunk
from storage.writer import ChunkWriter, frame_record
from tests.cli_helpers import run_cli

W, H = 640, 360
lossless = FrameEncoder.lossless


def desktop(seed: int = 1) -> Image.Image:
    """A busy RGB screen: random rectangles, so every region has detail."""
    rng = random.Random(seed)
    image = Image.new("RGB", (W, H), (40, 44, 52))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.randrange(W), rng.randrange(H)
        draw.rectangle(
            (x, y, x + rng.randrange(5, 120), y + rng.randrange(5, 60)),
            fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        )
    return image


def shot_of(image: Image.Image) -> RawShot:
    bgra = image.convert("RGBA").tobytes("raw", "BGRA")
    return RawShot(0, 0, image.width, image.height, bgra)


def changed(image: Image.Image, box: tuple[int, int, int, int], colour: int) -> Image.Image:
    out = image.copy()
    ImageDraw.Draw(out).rectangle(box, fill=(colour, 255 - colour, colour // 2))
    return out


def records_of(frames: list[Frame]) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """Frame records and members as the chunk writer stores them."""
    records: list[dict[str, Any]] = []
    members: dict[str, bytes] = {}
    for seq, frame in enumerate(frames):
        record, images = frame_record(seq, frame)
        records.append(record)
        members.update(images)
    return records, members


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return (
        a.size == b.size
        and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    )


def test_tracker_finds_the_changed_box_and_nothing_when_unchanged() -> None:
    tracker = ChangeTracker()
    first = shot_of(desktop())
    box, snapshot = tracker.compare(W, H, first.bgra)
    assert box == Box(0, 0, W, H)
    tracker.commit(snapshot)
    assert tracker.compare(W, H, first.bgra) == (None, None)
    second = shot_of(changed(desktop(), (300, 101, 310, 120), 7))
    box, snapshot = tracker.compare(W, H, second.bgra)
    assert box is not None
    # It holds every changed pixel, to BAND pixels across and two lines down.
    assert box.x <= 300 and box.x + box.width >= 311 and box.width <= 2 * BAND
    assert box.y <= 101 and box.y + box.height >= 121 and box.height <= 22
    # Not committed (the frame was not stored): the next grab is still compared with
    # the first frame.
    assert tracker.compare(W, H, second.bgra)[0] == box
    tracker.commit(snapshot)
    assert tracker.compare(W, H, second.bgra) == (None, None)
    # A new size is a whole new screen.
    small = shot_of(desktop().crop((0, 0, 320, 200)))
    assert tracker.compare(320, 200, small.bgra)[0] == Box(0, 0, 320, 200)


def test_crop_copies_exactly_the_box() -> None:
    image = desktop(3)
    shot = shot_of(image)
    for box in (Box(128, 10, 256, 33), Box(0, 0, W, 7), Box(512, 300, 128, 60)):
        got = Image.frombuffer(
            "RGB", (box.width, box.height), crop_bgra(shot.bgra, W, box), "raw", "BGRX", 0, 1
        )
        want = image.crop((box.x, box.y, box.x + box.width, box.y + box.height))
        assert same_pixels(got, want)


def test_a_region_cropped_after_the_scrub_is_the_region_cropped_at_once() -> None:
    # The screen source crops a whole grab's changed box only after the OCR scrub, so
    # the two are never in memory together (issue 23): the frame must be the same.
    first, second = desktop(4), changed(desktop(4), (200, 100, 330, 170), 90)
    frames = []
    for crop in (True, False):
        maker = FrameMaker(FrameEncoder(encoding="lossless"))
        maker.make(shot_of(first), "t", 0.0, 0.0)
        shot = shot_of(second)
        pending = maker.prepare(shot, crop=crop)
        assert pending is not None and not pending.key
        box = pending.box
        assert len(pending.bgra) == (4 * box.width * box.height if crop else 4 * W * H)
        pending = maker.cropped(pending, shot)
        assert bytes(pending.bgra) == crop_bgra(shot.bgra, W, box)
        frames.append(maker.encode(pending, "t", 1.0, 1.0))
    assert frames[0].image == frames[1].image
    assert (frames[0].x, frames[0].y) == (frames[1].x, frames[1].y)


def test_regions_compose_back_to_every_full_frame_pixel_for_pixel() -> None:
    # Lossless encoding, so composition must give back the grabbed pixels exactly.
    maker = FrameMaker(FrameEncoder(encoding="lossless"))
    screens = [desktop()]
    screens.append(changed(screens[-1], (20, 30, 60, 50), 10))  # top left
    screens.append(screens[-1])  # unchanged
    screens.append(changed(screens[-1], (500, 300, 639, 359), 99))  # bottom right
    screens.append(changed(screens[-1], (200, 150, 230, 151), 200))  # a thin line
    frames, kept = [], []
    for screen in screens:
        frame = maker.make(shot_of(screen), "click", 1.0, 1.0)
        if frame is not None:
            frames.append(frame)
            kept.append(screen)
    assert len(frames) == 4 and maker.skipped_unchanged == 1
    assert [f.key for f in frames] == [True, False, False, False]
    assert [f.base for f in frames] == [None, 1, 2, 3]
    for frame in frames[1:]:
        with decode_frame(frame.image, frame.bands) as region:
            assert region.width * region.height < W * H / 4  # only the region is stored
    maker.request_key()
    screens.append(changed(screens[-1], (0, 0, 5, 5), 50))
    key = maker.make(shot_of(screens[-1]), "idle", 2.0, 2.0)
    assert key is not None and key.key and (key.width, key.height) == (W, H)
    frames.append(key)
    kept.append(screens[-1])
    records, members = records_of(frames)
    full = full_frames(records, members)
    assert len(full) == len(frames)
    for record, screen in zip(records, kept, strict=True):
        with Image.open(io.BytesIO(full[record["file"]])) as got:
            assert same_pixels(got, screen)


def test_forced_key_frame_even_when_unchanged_and_none_otherwise() -> None:
    maker = FrameMaker()
    shot = shot_of(desktop())
    assert maker.make(shot, "click", 1.0, 1.0) is not None
    maker.request_key()  # not forced: an unchanged screen still gives nothing
    assert maker.make(shot, "click", 1.0, 1.0) is None
    maker.request_key(force=True)
    frame = maker.make(shot, "key", 1.0, 1.0)
    assert frame is not None and frame.key and frame.number == 2
    maker.reset()  # capture restarted: the next changed screen is whole
    frame = maker.make(shot, "click", 1.0, 1.0)
    assert frame is not None and frame.key


def test_compose_and_a_region_without_its_base_is_left_out() -> None:
    base = desktop()
    region = Image.new("RGB", (30, 20), (255, 0, 0))
    out = compose(base, region, 100, 50)
    assert out.getpixel((100, 50)) == (255, 0, 0) and out.getpixel((99, 50)) == base.getpixel(
        (99, 50)
    )
    with pytest.raises(ValueError, match="does not fit in the frame"):
        compose(base, region, W - 10, 0)
    key = Frame(ts=1.0, mono=1.0, width=W, height=H, image=lossless(base), number=1)
    orphan = Frame(
        ts=2.0,
        mono=2.0,
        width=W,
        height=H,
        image=lossless(region),
        key=False,
        number=3,
        base=2,
        x=0,
        y=0,
    )
    outside = Frame(
        ts=2.0,
        mono=2.0,
        width=W,
        height=H,
        image=lossless(region),
        key=False,
        number=2,
        base=1,
        x=W - 10,
        y=0,
    )
    records, members = records_of([key, orphan])
    assert list(full_frames(records, members)) == [records[0]["file"]]
    records, members = records_of([key, outside])
    assert list(full_frames(records, members)) == [records[0]["file"]]


def test_manifest_versions_one_to_three_are_read_others_refused() -> None:
    base = {
        "format": "capture-agent/chunk",
        "device": "d",
        "session": "s",
        "seq": 0,
        "members": {},
        "prev_manifest_sha256": "0" * 64,
    }
    for version in (1, 2, 3):
        assert parse_manifest(json.dumps({**base, "version": version}).encode())
    for bad in (4, True, 2.0):
        with pytest.raises(FormatError, match=r"not supported .*reads versions 1, 2 and 3\)"):
            parse_manifest(json.dumps({**base, "version": bad}).encode())


def test_writer_stores_regions_only_after_their_base_in_the_same_chunk(tmp_path: Path) -> None:
    person = generate_age_identity()
    generate_signing_key(tmp_path / "sign.pem")
    writer = ChunkWriter(
        tmp_path / "sessions",
        "dev-1",
        "sess-1",
        [person.public],
        load_signing_key(tmp_path / "sign.pem"),
    )
    asked: list[bool] = []
    writer.on_key_frame_needed = asked.append

    def frame(number: int, base: int | None) -> Frame:
        return Frame(
            ts=float(number),
            mono=0.0,
            width=W,
            height=H,
            image=b"RIFF",
            key=base is None,
            number=number,
            base=base,
        )

    writer.add(0, frame(1, None))
    writer.add(1, frame(2, 1))
    writer.add(2, frame(4, 3))  # frame 3 was dropped on the way
    assert writer.rejected_frames == 1 and asked == [True]
    assert writer.seal() is not None
    assert asked == [True, False]  # a new chunk: its first frame should be whole
    writer.add(3, frame(5, 2))  # its base is in the previous chunk
    writer.add(4, frame(6, None))
    writer.add(5, frame(7, 6))
    assert writer.rejected_frames == 2 and asked == [True, False, True]
    assert writer.seal() is not None
    identity = pyrage.x25519.Identity.from_str(person.secret)
    chunks = [read_chunk(ref, [identity]) for ref in list_chunks(tmp_path / "sessions")]
    assert [c.manifest["version"] for c in chunks] == [3, 3]
    stored = [[(r["number"], r["key"], r["base"]) for r in c.events()] for c in chunks]
    assert stored == [[(1, True, None), (2, False, 1)], [(6, True, None), (7, False, 6)]]


def test_export_writes_full_resolution_frames_from_regions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init").returncode == 0
    assert run_cli(home, "opt-in").returncode == 0
    first = desktop()
    second = changed(first, (130, 40, 200, 90), 33)
    region = second.crop((128, 40, 256, 92))

    def line(t: float, image: bytes, **region_fields: Any) -> str:
        return json.dumps(
            {
                "type": "frame",
                "t": t,
                "width": W,
                "height": H,
                "left": 0,
                "top": 0,
                "trigger": "click",
                **region_fields,
                "image_b64": base64.b64encode(image).decode("ascii"),
            }
        )

    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        line(0.01, lossless(first), number=1)
        + "\n"
        + line(0.02, lossless(region), key=False, number=2, base=1, x=128, y=40)
        + "\n"
    )
    done = run_cli(home, "run", "--replay", str(trace), "--speed", "0")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "frames"
    exported = run_cli(home, "export", "--frames", str(out))
    assert exported.returncode == 0, exported.stderr
    frames = [r for r in map(json.loads, exported.stdout.splitlines()) if r["type"] == "frame"]
    assert [(f["key"], f["x"], f["y"]) for f in frames] == [(True, 0, 0), (False, 128, 40)]
    for record, want in zip(frames, (first, second), strict=True):
        with Image.open(record["file"]) as got:
            assert same_pixels(got, want)


def test_org_pull_writes_whole_frames_beside_the_zips(tmp_path: Path) -> None:
    from org.pull import verify_devices
    from storage.keys import public_key_text

    org = generate_age_identity()
    generate_signing_key(tmp_path / "sign.pem")
    key = load_signing_key(tmp_path / "sign.pem")
    out = tmp_path / "pulled"
    writer = ChunkWriter(out / "raw" / "dev-a" / "sessions", "dev-a", "S1", [org.public], key)
    first = desktop()
    second = changed(first, (10, 10, 40, 30), 80)
    # The key frame in two bands (format 3): pulled, it is one whole screen again.
    writer.add(
        0,
        Frame(
            ts=1.0,
            mono=1.0,
            width=W,
            height=H,
            number=1,
            image=lossless(first.crop((0, 0, W, 128))),
            bands=(lossless(first.crop((0, 128, W, H))),),
        ),
    )
    writer.add(
        1,
        Frame(
            ts=2.0,
            mono=2.0,
            width=W,
            height=H,
            key=False,
            number=2,
            base=1,
            x=0,
            y=10,
            image=lossless(second.crop((0, 10, 128, 32))),
        ),
    )
    assert writer.seal() is not None
    identity = pyrage.x25519.Identity.from_str(org.secret)
    results = verify_devices(
        out, [identity], {"dev-a": [public_key_text(key.public_key())]}, decrypt=True
    )
    assert results[0].report.ok and results[0].decrypted_chunks == 1
    written = sorted((out / "dev-a" / "S1" / "frames").iterdir())
    assert [p.name for p in written] == ["S1-000000000.webp", "S1-000000001.webp"]
    for path, want in zip(written, (first, second), strict=True):
        with Image.open(path) as got:
            assert same_pixels(got, want)
    lines = (out / "dev-a" / "S1" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line).get("file") for line in lines] == [None, None]
    assert [json.loads(line).get("bands") for line in lines] == [None, None]


def test_frames_in_bands_are_stored_read_and_composed_back_exactly(tmp_path: Path) -> None:
    big = Image.new("RGB", (2 * W, 2 * H))
    for i in range(4):
        big.paste(desktop(seed=i + 1), ((i % 2) * W, (i // 2) * H))
    screens = [big, changed(big, (10, 5, 1200, 700), 77)]  # a region of most of the screen
    maker = FrameMaker(FrameEncoder(encoding="lossless"))
    frames = [maker.make(shot_of(screen), "click", 1.0, 1.0) for screen in screens]
    assert all(f is not None and f.bands for f in frames)
    assert [f.key for f in frames if f is not None] == [True, False]
    person = generate_age_identity()
    generate_signing_key(tmp_path / "sign.pem")
    writer = ChunkWriter(
        tmp_path / "sessions",
        "dev-1",
        "sess-1",
        [person.public],
        load_signing_key(tmp_path / "sign.pem"),
    )
    for seq, frame in enumerate(frames):
        assert frame is not None
        writer.add(seq, frame)
    assert writer.seal() is not None
    identity = pyrage.x25519.Identity.from_str(person.secret)
    [ref] = list_chunks(tmp_path / "sessions")
    chunk = read_chunk(ref, [identity])
    records = list(chunk.events())
    bands = sum(len(f.bands) for f in frames if f is not None)
    assert chunk.manifest["frames"] == 2 and chunk.manifest["version"] == 3
    assert len([m for m in chunk.members if m.startswith("frames/")]) == 2 + bands
    assert records[0]["bands"][0] == "frames/000000000.1.webp"
    full = full_frames(records, chunk.members)
    for record, screen in zip(records, screens, strict=True):
        with Image.open(io.BytesIO(full[record["file"]])) as got:
            assert same_pixels(got, screen)
    # A band lost: that frame and the region drawn on it are left out, nothing guessed.
    members = dict(chunk.members)
    del members[records[0]["bands"][1]]
    assert full_frames(records, members) == {}


def test_a_key_frame_after_a_small_change_encodes_only_the_changed_band() -> None:
    maker = FrameMaker(FrameEncoder(encoding="lossless"))
    big = desktop().resize((1280, 720))
    first = maker.make(shot_of(big), "start", 1.0, 1.0)
    assert first is not None and first.key and len(first.bands) >= 2
    after = changed(big, (20, 20, 60, 40), 200)  # inside the first band only
    maker.request_key()
    second = maker.make(shot_of(after), "key", 2.0, 2.0)
    assert second is not None and second.key
    assert maker.kept.reused == len(first.bands)  # every band but the first
    assert second.bands == first.bands and second.image != first.image
    composed = decode_frame(second.image, second.bands).convert("RGB")
    assert ImageChops.difference(composed, after).getbbox() is None
    maker.reset()
    assert maker.kept.bands == {}


def test_tracker_told_where_damage_was_reads_only_those_rows() -> None:
    tracker = ChangeTracker()
    first = desktop()
    tracker.commit(tracker.compare(W, H, shot_of(first).bgra)[1])
    second = changed(first, (300, 101, 310, 120), 7)
    whole = tracker.compare(W, H, shot_of(second).bgra)[0]
    # Told the change's rows: the same box as a comparison of every line.
    assert tracker.compare(W, H, shot_of(second).bgra, (90, 130))[0] == whole
    # Told other rows (damage says nothing was drawn there): those lines are trusted.
    assert tracker.compare(W, H, shot_of(second).bgra, (200, 260))[0] is None
    # A region stored since leaves its lines stale; rows given refresh them, the others
    # stay stale and a comparison of every line still checks them.
    region = Box(256, 96, 128, 28)
    box, snap = tracker.compare_region(region, crop_bgra(shot_of(second).bgra, W, region))
    assert box is not None
    tracker.commit_region(snap)
    third = changed(second, (10, 300, 20, 310), 90)
    box, snapshot = tracker.compare(W, H, shot_of(third).bgra, (296, 312))
    assert box is not None and box.y <= 300 and box.y + box.height >= 311 and box.x == 0
    assert snapshot is not None and set(range(96, 124)) <= snapshot.stale
    tracker.commit(snapshot)
    box, snapshot = tracker.compare(W, H, shot_of(third).bgra)
    assert box is None and snapshot is not None  # the stale lines: checked, as stored
    tracker.commit(snapshot)
    assert tracker.compare(W, H, shot_of(third).bgra) == (None, None)
