"""KnownSecrets: typed secrets found again on screen, their damage rectangles, expiry, bounds."""

from __future__ import annotations

from dataclasses import dataclass

from capture.events import Frame, Window
from capture.window.visible import Rect, VisibleWindow
from privacy.known_secrets import KnownSecrets, normalise
from privacy.text_buffer import TypedTextRedactor
from tests.privacy_helpers import feed, keys_for

CARD = "4111 1111 1111 1111"
TERM = VisibleWindow("Terminal", "xterm", geometry=Rect(0, 0, 800, 600), focused=True)


@dataclass(frozen=True)
class Word:
    text: str
    left: int
    top: int
    width: int = 40
    height: int = 12
    confidence: float = 90.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def words(*texts: str, top: int = 50, left: int = 10) -> list[Word]:
    out = []
    for text in texts:
        out.append(Word(text, left, top, width=8 * len(text)))
        left += 8 * len(text) + 8
    return out


def test_card_is_found_through_ocr_confusions_spacing_and_a_misread_glyph() -> None:
    known = KnownSecrets()
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    # OCR read "l" for 1, "O"-free but split differently, and one digit wrong (7 for 1).
    line = words("$", "echo", "my", "card", "4lll", "11111", "1lll", "1117", "ok")
    boxes = known.find(line, origin=(100, 200))
    assert len(boxes) == 1
    box = boxes[0]
    card_words = line[4:8]
    assert box.x == 100 + card_words[0].left - 2
    assert box.x + box.width == 100 + card_words[-1].left + card_words[-1].width + 2
    assert box.y == 200 + 50 - 2
    # The ordinary words beside it stay outside the box.
    assert box.x > 100 + line[3].left + line[3].width


def test_words_that_merely_resemble_are_not_masked() -> None:
    known = KnownSecrets()
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    assert known.find(words("4111", "2222", "3333", "4444")) == []
    assert known.find(words("echo", "hello", "world")) == []
    assert known.find([]) == []


def test_an_email_and_token_are_found_case_and_punctuation_blind() -> None:
    known = KnownSecrets()
    known.add("email", "alice.smith@example.com", "xterm", "T", 1.0, 2.0)
    known.add("secret", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "xterm", "T", 3.0, 4.0)
    assert len(known.find(words("mail:", "Alice.Smith@example.corn"))) == 1  # rn for m: 1 miss
    assert len(known.find(words("ghp_16C7e42F292c6912E7710c838347Ae178B4a"))) == 1
    assert normalise("O0 lI1| S5") == "00111155"


def test_a_secret_split_over_two_lines_boxes_nothing_on_either_but_damage_still_masks() -> None:
    known = KnownSecrets()
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    known.note_damage(Rect(10, 50, 300, 24), 0.5, 2.5)
    split = words("4111", "1111", top=50) + words("1111", "1111", top=80)
    assert known.find(split) == []
    assert known.masks([TERM], True).rects == (Rect(10, 50, 300, 24),)


def test_damage_seen_while_typing_is_masked_before_and_after_the_secret_arrives() -> None:
    clock = Clock()
    known = KnownSecrets(clock=clock)
    # Drawn while the card was typed (t 1..2), read before the stage released it.
    known.note_damage(Rect(10, 50, 200, 16), 0.8, 1.5)
    known.note_damage(Rect(500, 400, 50, 16), -5.0, 0.5)  # before: not the secret
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    known.note_damage(Rect(210, 50, 40, 16), 1.5, 2.6)  # the echo of the last keys
    known.note_damage(Rect(10, 70, 100, 16), 4.0, 5.0)  # the next line, later
    got = known.masks([TERM], True)
    assert set(got.rects) == {Rect(10, 50, 200, 16), Rect(210, 50, 40, 16)}
    assert got.regions == {"payment_card": 2}
    assert got.withhold is None


def test_without_damage_the_window_is_masked_or_the_frame_withheld() -> None:
    known = KnownSecrets()
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    other = VisibleWindow("Editor", "gedit", geometry=Rect(800, 0, 400, 400))
    assert known.masks([TERM, other], True).rects == (TERM.geometry,)
    # Only the focused window is listed (macOS-like lister) and it is not the terminal.
    focused_other = VisibleWindow("Editor", "gedit", geometry=Rect(800, 0, 400, 400), focused=True)
    assert known.masks([focused_other], False).withhold == "secret_unlocated"


def test_a_scroll_redrawing_the_rectangle_masks_the_window_until_ocr_finds_it() -> None:
    known = KnownSecrets()
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    known.note_damage(Rect(10, 50, 200, 16), 1.0, 2.5)
    known.note_damage(Rect(0, 0, 800, 600), 5.0, 6.0)  # the terminal scrolled
    assert TERM.geometry in known.masks([TERM], True).rects
    # OCR finds the card one line higher: its word boxes are masked from now on.
    boxes = known.find(words("4111", "1111", "1111", "1111", top=34))
    assert boxes and known.masks([TERM], True).rects == tuple(boxes)
    # Scrolled back: found where it was typed again. The line it was found on before
    # now shows other text (a sentence scrolled down into it): not masked any more.
    known.note_damage(Rect(0, 0, 800, 600), 7.0, 8.0)
    back = known.find(words("4111", "1111", "1111", "1111", top=50))
    assert back and known.masks([TERM], True).rects == tuple(back)
    assert not set(boxes) & set(known.masks([TERM], True).rects)


def test_entries_expire_when_their_window_closes_or_after_the_ttl() -> None:
    clock = Clock()
    known = KnownSecrets(ttl=60.0, max_age=300.0, clock=clock)
    known.add("payment_card", CARD, "xterm", "Terminal", 1.0, 2.0)
    known.add("ssn", "078-05-1120", "gedit", "notes", 1.0, 2.0)
    known.note_damage(Rect(10, 50, 200, 16), 1.0, 2.5)
    # gedit is no longer listed by a complete lister: closed, forgotten.
    known.masks([TERM], True)
    assert len(known) == 1
    # An incomplete lister proves nothing about windows it does not list.
    known.add("ssn", "078-05-1120", "gedit", "notes", 1.0, 2.0)
    known.masks([TERM], False)
    assert len(known) == 2
    clock.now += 59.0
    assert known.find(words("4111", "1111", "1111", "1111"))  # seen: life extended
    clock.now += 59.0
    known.masks([TERM], False)
    assert len(known) == 1  # the SSN was not seen for 118 s
    clock.now += 300.0
    known.find(words("4111", "1111", "1111", "1111"))
    known.masks([TERM], False)
    assert len(known) == 0  # the hard age bound, seen or not
    assert known.find(words("4111", "1111", "1111", "1111")) == []


def test_memory_is_bounded_and_no_secret_in_repr() -> None:
    known = KnownSecrets(max_entries=8)
    for n in range(100):
        known.add("payment_card", f"4111 1111 1111 {n:04d}", "xterm", "T", n, n + 1)
    for n in range(2000):
        known.note_damage(Rect(n % 700, n % 500, 10, 10), n / 10, n / 10 + 0.05)
    assert len(known) == 8 and known.evicted == 92
    assert len(known._ring) <= 512
    assert all(len(e.rects) <= 17 for e in known._entries)
    assert "4111" not in repr(known) and "4111" not in repr(known._entries)


def test_the_typed_text_stage_hands_over_each_secret_with_its_key_times() -> None:
    known = KnownSecrets()
    stage = TypedTextRedactor(known_secrets=known)
    stage.process(Window(ts=0.5, mono=0.5, title="Terminal", app="xterm", pid=7))
    events = keys_for(f"echo my card is {CARD} ok\n", start=1.0)
    feed(stage.process, events)
    assert len(known) == 1
    entry = known._entries[0]
    assert entry.category == "payment_card" and entry.app == "xterm"
    assert entry.needle == normalise(CARD)
    first = 1.0 + 0.05 * len("echo my card is ")
    assert abs(entry.first - first) < 1e-9
    assert abs(entry.last - (first + 0.05 * (len(CARD) - 1))) < 1e-9
    # An ordinary word typed beside it was not handed over.
    assert known.find(words("echo", "my", "card", "is")) == []


def test_a_frame_grabbed_before_the_mask_knew_the_secret_is_dropped() -> None:
    clock = Clock()
    known = KnownSecrets(clock=clock)
    stage = TypedTextRedactor(known_secrets=known)
    feed(stage.process, keys_for(f"{CARD}\n", start=90.0))
    assert len(known) == 1

    def frame(mono: float) -> Frame:
        return Frame(ts=mono, mono=mono, width=8, height=8, image=b"x")

    # Held behind Enter's release, a frame grabbed before the mask knew goes at release.
    stage.process(frame(92.0))
    assert [e for e in stage.flush() if isinstance(e, Frame)] == []
    assert stage.take_removed().get("frame_with_secret") == 1
    assert not stage.idle

    assert stage.process(frame(89.0)) != []  # grabbed before the first key: kept
    assert stage.process(frame(95.0)) == []  # after the key, before the mask knew: dropped
    assert stage.take_removed().get("frame_with_secret") == 1
    assert stage.process(frame(100.0)) != []  # masked with it: kept, guard over
    assert stage.idle


def test_a_frame_held_from_before_the_mask_knew_is_kept_when_masked_after() -> None:
    """A hold (grabbed at a key's release, stored at the next action's start) shows the
    screen at its grab but is masked when stored: masked once the secret was known, it
    is kept (the settled screen after typing a secret is the next action's observation);
    masked before, it is dropped like a frame grabbed then."""
    clock = Clock()
    known = KnownSecrets(clock=clock)
    stage = TypedTextRedactor(known_secrets=known)
    feed(stage.process, keys_for(f"{CARD}\n", start=90.0))
    stage.flush()
    stage.take_removed()
    assert len(known) == 1  # known at clock 100.0

    def held(grabbed: float, masked: float) -> Frame:
        return Frame(ts=grabbed, mono=grabbed, width=8, height=8, image=b"x", masked_mono=masked)

    assert stage.process(held(95.0, 99.0)) == []  # masked before the mask knew: dropped
    assert stage.take_removed().get("frame_with_secret") == 1
    kept = stage.process(held(95.0, 100.5))
    assert [f.mono for f in kept if isinstance(f, Frame)] == [95.0]
    assert stage.take_removed().get("frame_with_secret") is None
    assert stage.idle  # the guard is over: what follows was masked later still


def test_a_glyph_read_twice_or_dropped_still_finds_the_secret() -> None:
    known = KnownSecrets()
    known.add("aws_key", "AKIACY7KXIKP2XH8600F", "xterm", "Terminal", 1.0, 2.0)
    known.add("payment_card", "4562 9198 6570 8328", "xterm", "Terminal", 3.0, 4.0)
    # The engine dropped the key's 7 and read the card's 0 twice.
    assert known.find(words("key", "AKIACYKXIKP2XH8600F", top=50))
    assert known.find(words("card", "4562", "9198", "65700", "8328", top=70))
    assert not known.needs_locating()


def test_the_visible_tail_of_a_long_secret_is_found() -> None:
    known = KnownSecrets()
    known.add("iban", "DE90 1075 7235 5714 8910 73", "zenity", "Form", 1.0, 2.0)
    # A narrow entry field scrolled to show the IBAN's last 17 characters only.
    assert known.find(words("iban", "7572355714891073", top=40))
    # Ten characters of it that happen to appear elsewhere are not enough alone when
    # they do not line up: nothing found in unrelated numbers.
    assert not known.find(words("total", "1234", "5678", "9012", top=90))


def test_a_loose_likeness_counts_only_inside_the_secret_s_own_damage() -> None:
    secret = "4086 5682 1195 1640"
    misread = ["4086", "5687", "1795", "1646"]  # three digits wrong: too many anywhere
    known = KnownSecrets()
    known.add("payment_card", secret, "xterm", "Terminal", 1.0, 2.0)
    known.note_damage(Rect(0, 40, 300, 30), 1.0, 2.5)
    assert not known.find(words("card", *misread, top=200))  # far from its damage
    assert known.find(words("card", *misread, top=50))  # where it was typed
    assert known.masks([TERM], True).rects[0].height < 30  # its words, not the damage
