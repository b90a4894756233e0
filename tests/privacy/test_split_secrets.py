"""The typed-text buffer follows a secret across a short pause, a correction, or a label
typed in the field before (issue 20)."""

from __future__ import annotations

import base64
import hashlib

from capture.events import Event
from privacy.text_buffer import DEFER_FACTOR, IDLE_SECONDS, TypedTextRedactor
from tests.privacy_helpers import feed, keys_for, stored_chars, visible


def type_in_parts(r: TypedTextRedactor, parts: list[str], pause: float) -> list[Event]:
    """Type ``parts`` one after the other, pausing ``pause`` seconds between them (the
    redactor is ticked through the pause every 0.2 s, as the pipeline does)."""
    out: list[Event] = []
    t = 1.0
    for i, part in enumerate(parts):
        if i:
            end = t + pause
            while t < end:
                t = min(end, t + 0.2)
                out.extend(r.tick(t))
        events = keys_for(part, start=t)
        out.extend(feed(r.process, events))
        t = events[-1].mono + 0.05
    return out + r.flush()


def test_a_password_typed_in_two_parts_with_a_pause_is_redacted_whole() -> None:
    r = TypedTextRedactor()
    out = type_in_parts(r, ["my new password is Hun", "ter4!2x"], pause=IDLE_SECONDS + 2)
    assert visible(out) == "my new password is " + "#" * len("Hunter4!2x")
    assert "Hun" not in stored_chars(out)


def test_a_card_typed_in_two_parts_with_a_pause_is_redacted_whole() -> None:
    r = TypedTextRedactor()
    out = type_in_parts(r, ["use 4111 1111 ", "1111 1111 for it"], pause=IDLE_SECONDS + 2)
    assert visible(out) == "use " + "#" * 19 + " for it"


def test_prose_is_still_released_after_the_idle_gap() -> None:
    r = TypedTextRedactor()
    feed(r.process, keys_for("see you at the station", start=1.0))
    assert len(r.tick(1.0 + 22 * 0.05 + IDLE_SECONDS + 0.1)) == 44


def test_a_held_open_secret_is_released_after_a_few_idle_gaps() -> None:
    r = TypedTextRedactor()
    events = keys_for("pw: Hun", start=1.0)
    feed(r.process, events)
    last = events[-1].mono
    assert r.tick(last + IDLE_SECONDS + 0.1) == []  # it may go on: held
    out = r.tick(last + IDLE_SECONDS * DEFER_FACTOR + 0.1)
    assert visible(out) == "pw: ###"
    # The rest, typed after the long pause, is judged with the cue before it.
    out = feed(r.process, keys_for("ter42\n", start=last + 20)) + r.flush()
    assert visible(out) == "#####"


def test_a_label_typed_before_a_tab_names_the_value_after_it() -> None:
    r = TypedTextRedactor()
    out = feed(r.process, keys_for("Passport number\t533380006\t")) + r.flush()
    assert visible(out) == "Passport number" + "#" * 9
    out = feed(r.process, keys_for("Date of birth:\n17.04.1962\n", start=5.0)) + r.flush()
    assert visible(out) == "Date of birth:" + "#" * 10


def test_a_corrected_typo_inside_a_password_is_redacted_too() -> None:
    r = TypedTextRedactor()
    out = feed(r.process, keys_for("pw: S@ix\bffr0n19\n")) + r.flush()
    assert visible(out) == "pw: " + "#" * len("S@ixffr0n19")
    assert "x" not in stored_chars(out).replace("\n", "")


def test_the_lines_of_a_pgp_public_key_block_are_kept() -> None:
    body = base64.b64encode(hashlib.sha512(b"pgp").digest() * 3).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    block = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n" + "\n".join(lines)
    block += "\n-----END PGP PUBLIC KEY BLOCK-----\n"
    r = TypedTextRedactor()
    out = feed(r.process, keys_for(block)) + r.flush()
    assert "#" not in visible(out)
    # After the block, a random token typed alone is judged as before.
    out = feed(r.process, keys_for("kT9fQ2xLmZ7pV4rW8sY3bN6c\n", start=100.0)) + r.flush()
    assert visible(out) == "#" * 24
