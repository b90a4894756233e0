"""Attacks on the typed-text caps and on lost keys (issue 16, items 5, 6 and 12).

A secret typed in one long unbroken line is cut by the size cap (1024 characters) or
the time cap (20 s) wherever it happens to be: it is placed at every offset across each
cut and must never come out with a digit (or capital) in clear. Keys lost by a full
queue inside a held secret withhold the whole segment. Time runs on the buffer's own
clock (``tick``), never on real sleeps.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from agent.runtime.pipeline import Pipeline
from capture.events import Event, Key
from capture.queue import EventQueue
from privacy.pipeline import build_chain
from privacy.text_buffer import MAX_CHARS, MAX_HOLD_SECONDS, TypedTextRedactor
from tests.agent.test_pipeline import stored, writer_for
from tests.cli_helpers import recording_home, run_cli
from tests.privacy_helpers import feed, keys_for, visible
from tests.waiting import wait_for

CARD = "4111 1111 1111 1111"
AWS = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key id
IBAN = "DE89 3704 0044 0532 0130 00"  # the standard example IBAN
SECRETS = {"payment_card": CARD, "aws_key": AWS, "iban": IBAN}
WORDS = [
    "the",
    "a",
    "note",
    "on",
    "and",
    "of",
    "to",
    "we",
    "it",
    "is",
    "for",
    "but",
    "lunch",
    "meeting",
    "plan",
    "later",
    "was",
    "then",
]


def prose(n: int, seed: int = 1) -> str:
    """``n`` characters of lower-case words: no digit, no capital, no Enter."""
    rng = random.Random(seed)
    out = ""
    while len(out) < n:
        out += rng.choice(WORDS) + (", " if rng.random() < 0.1 else " ")
    return out[:n]


def leaks(events: list[Event]) -> str:
    """Every digit or capital letter stored, from presses and releases alike."""
    found: list[str] = []
    for e in events:
        if isinstance(e, Key):
            for s in (e.char or "", e.key if len(e.key) == 1 else ""):
                found.extend(c for c in s if c.isdigit() or c.isupper())
    return "".join(found)


def line_with(secret: str, offset: int, length: int) -> str:
    base = prose(length)
    # Spaces around it: glued to a word, the key is not a key for the detectors either.
    return base[:offset] + " " + secret + " " + base[offset + len(secret) + 2 :]


def cut_points(length: int) -> list[int]:
    """Where the size cap releases in a line of ``length`` typed characters."""
    r = TypedTextRedactor()
    points = []
    for i, event in enumerate(keys_for(prose(length))):
        if r.process(event) and event.pressed:
            points.append(i // 2)
    return points


LINE = 2400
POINTS = cut_points(LINE)


def test_the_line_is_cut_more_than_once() -> None:
    assert len(POINTS) >= 2 and POINTS[0] == MAX_CHARS - 1


@pytest.mark.parametrize("category", sorted(SECRETS))
def test_secret_at_every_offset_across_the_size_cap(category: str) -> None:
    secret = SECRETS[category]
    offsets = sorted(
        {o for p in POINTS for o in range(p - len(secret) - 2, p + 3) if 0 <= o < LINE - 40}
    )
    for offset in offsets:
        line = line_with(secret, offset, LINE)
        r = TypedTextRedactor()
        events = keys_for(line + "\n", step=0.01)
        out = feed(r.process, events) + r.flush()
        assert leaks(out) == "", (category, offset)
        assert [e.ts for e in out] == [e.ts for e in events]  # nothing lost, order kept
        removed = r.take_removed()
        redacted = sum(1 for e in out if isinstance(e, Key) and e.pressed and e.redacted)
        assert sum(removed.values()) == redacted >= len(secret.replace(" ", ""))


def typed_slowly(text: str, seed: int) -> list[Key]:
    """Human timing, as ``xdotool type --delay 240``: a press, its release 10-60 ms
    later, the next press 150-330 ms after the last."""
    rng = random.Random(seed)
    out: list[Key] = []
    t = 1000.0
    for ch in text:
        name = "space" if ch == " " else ch.lower()
        out.append(Key(ts=t, mono=t, key=name, pressed=True, char=ch))
        up = t + rng.uniform(0.01, 0.06)
        out.append(Key(ts=up, mono=up, key=name, pressed=False, char=ch))
        t += rng.uniform(0.15, 0.33)
    return out


def run_with_ticks(r: TypedTextRedactor, events: list[Key]) -> tuple[list[Event], int]:
    """Feed events, ticking every 0.2 s of event time as the pipeline does; return the
    output and how many ticks released something (the time cap cutting)."""
    out: list[Event] = []
    cuts = 0
    next_tick = events[0].mono
    for event in events:
        while next_tick <= event.mono:
            released = r.tick(next_tick)
            cuts += bool(released)
            out += released
            next_tick += 0.2
        out += r.process(event)
    return out + r.tick(next_tick + 10.0), cuts


@pytest.mark.parametrize("category", sorted(SECRETS))
def test_secret_at_every_offset_across_the_time_cap(category: str) -> None:
    # About 4 keys a second: the 20 s cap falls near character 83, 166, 250, 333...
    secret = SECRETS[category]
    length = 420
    timing = typed_slowly(prose(length), seed=16)
    presses = [e.mono for e in timing if e.pressed]
    # A cut falls on the first tick 20 s after the last one; the character typed then
    # is where the line is cut. Every offset that puts the secret across one is tried.
    cuts = [sum(m < presses[0] + k * MAX_HOLD_SECONDS for m in presses) for k in range(1, 6)]
    offsets = {o for c in cuts for o in range(c - len(secret) - 3, c + 3)}
    cut_seen = 0
    for offset in sorted(o for o in offsets if 0 <= o < length - len(secret) - 2):
        events = typed_slowly(line_with(secret, offset, length), seed=16)
        assert events[-1].mono - events[0].mono > 4 * MAX_HOLD_SECONDS
        r = TypedTextRedactor()
        out, released = run_with_ticks(r, events)
        cut_seen += released
        assert leaks(out) == "", (category, offset)
        assert [e.ts for e in out] == [e.ts for e in events]
    assert cut_seen > 0  # the time cap did cut these lines (and released their heads)


def test_the_issue_reproduction_typed_at_240_ms() -> None:
    text = prose(140) + ", the number is " + CARD + " thanks"
    r = TypedTextRedactor()
    out, _ = run_with_ticks(r, typed_slowly(text, seed=16))
    assert leaks(out) == ""
    assert visible(out).endswith("the number is " + "#" * len(CARD) + " thanks")


def test_an_unbroken_run_longer_than_the_window_is_withheld_whole() -> None:
    blob = "".join(
        random.Random(3).choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(1500)
    )
    r = TypedTextRedactor()
    out = feed(r.process, keys_for("see " + blob + " ok\n", step=0.01)) + r.flush()
    assert leaks(out) == ""
    assert visible(out) == "see " + "#" * len(blob) + " ok"
    assert r.take_removed() == {"unjudged": len(blob)}


def test_hold_back_is_bounded() -> None:
    r = TypedTextRedactor()
    text = prose(20_000)
    most = 0
    for event in keys_for(text, step=0.01):
        r.process(event)
        most = max(most, len(r._text))
    assert most < 2 * MAX_CHARS


# --- lost keys (item 6) -----------------------------------------------------------------


def test_keys_lost_inside_a_held_card_withhold_the_whole_segment() -> None:
    r = TypedTextRedactor()
    line = f"pay {CARD} thanks\n"
    events = keys_for(line)
    lost = line.index(CARD) + 9  # the press and release of one digit never arrive
    out = feed(r.process, events[: 2 * lost])
    r.gap_opened()
    r.gap_closed()
    out += feed(r.process, events[2 * lost + 2 :]) + r.flush()
    assert leaks(out) == ""  # 15 of 16 digits reached the buffer: none is stored
    assert set(visible(out)) == {"#"}
    assert r.take_removed() == {"dropped_context": len(line) - 2}


def test_a_gap_at_the_start_of_a_segment_withholds_the_next_one() -> None:
    r = TypedTextRedactor()
    out = feed(r.process, keys_for("hello\n"))
    r.gap_opened()  # "4111 " was lost, nothing is held
    r.gap_closed()
    out += feed(r.process, keys_for("1111 1111 1111 ok\n", start=5.0))
    out += feed(r.process, keys_for("next\n", start=9.0))
    out += feed(r.process, keys_for("later\n", start=12.0)) + r.flush()
    assert leaks(out) == ""
    # The line after one with lost keys may answer a prompt its lost command asked for.
    assert visible(out) == "hello" + "#" * 17 + "####" + "later"


def test_queue_drops_inside_a_secret_through_the_real_pipeline(tmp_path: Path) -> None:
    """queue_size small, a card typed faster than it drains: the digits that did arrive
    are not stored, and the counts say so in status terms."""
    # Stamped on the real clock, as hooks do; no idle release while the test waits.
    now = time.monotonic()
    head = keys_for(f"pay {CARD[:12]}", start=now)
    rest = keys_for(CARD[13:] + " thanks\n", start=now + 2.0)
    queue = EventQueue(len(head))
    for event in head:
        queue.offer(event)
    for event in keys_for(CARD[12], start=now + 1.0):  # a digit offered to a full queue
        queue.offer(event)
    pipeline = Pipeline(queue, build_chain(idle_seconds=3600.0), writer_for(tmp_path))
    pipeline.start()
    wait_for(lambda: pipeline.stats.processed == len(head), "the head to be processed")
    for event in rest:
        queue.offer(event)
    wait_for(lambda: pipeline.redacted_keys() > 0, "status to count the withheld keys")
    pipeline.stop()
    records = stored(tmp_path)
    keys = [r for r in records if r["type"] == "key"]
    assert len(keys) == len(head) + len(rest)
    digits = [c for r in keys for c in str(r.get("char") or "") + str(r["key"]) if c.isdigit()]
    assert digits == []
    withheld = len("pay " + CARD + " thanks") - 1  # every character that arrived
    assert pipeline.removed_totals()["typed_text"] == {"dropped_context": withheld}
    assert pipeline.redacted_keys() == withheld
    markers = [r for r in records if r["type"] == "marker" and r["kind"] == "dropped"]
    assert markers and markers[0]["detail"] == {"counts": {"key": 2}, "reason": "queue_full"}


def test_status_counts_redactions_before_any_seal(tmp_path: Path) -> None:
    queue = EventQueue(1000)
    pipeline = Pipeline(queue, build_chain(), writer_for(tmp_path))
    pipeline.start()
    try:
        for event in keys_for(f"card {CARD}\n"):
            queue.offer(event)
        wait_for(lambda: pipeline.redacted_keys() == len(CARD), "the redaction to be counted")
        assert pipeline.writer.sealed_chunks == 0
        assert pipeline.removed_totals() == {"typed_text": {"payment_card": len(CARD)}}
    finally:
        pipeline.stop()


# --- end to end through the daemon (run --replay) ---------------------------------------


def test_replayed_long_line_with_a_card_across_the_cap(tmp_path: Path) -> None:
    home = recording_home(tmp_path)
    offset = MAX_CHARS - 9  # the first cut falls inside the card
    line = line_with(CARD, offset, 1400)
    trace = tmp_path / "trace.jsonl"
    rows = [{"type": "window", "t": 0, "title": "notes", "app": "Editor"}]
    t = 0.01
    for ch in line:
        name = "space" if ch == " " else ch
        rows.append({"type": "key", "t": t, "key": name, "pressed": True, "char": ch})
        rows.append({"type": "key", "t": t + 0.005, "key": name, "pressed": False, "char": ch})
        t += 0.01
    trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = run_cli(home, "run", "--replay", str(trace), "--speed", "0")
    assert done.returncode == 0, done.stderr
    assert f"filtered=0 redacted={len(CARD)} " in done.stderr
    exported = run_cli(home, "export")
    assert exported.returncode == 0, exported.stderr
    keys = [json.loads(x) for x in exported.stdout.splitlines()]
    keys = [r for r in keys if r["type"] == "key"]
    assert len(keys) == 2 * len(line)
    assert not any(c.isdigit() for r in keys for c in (r.get("char") or "") + r["key"])
    assert sum(1 for r in keys if r.get("redacted") == "payment_card" and r["pressed"]) == len(CARD)
