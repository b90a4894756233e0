"""The "secure_input" source over fakes: AT-SPI focus tracking, polling, unavailability."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import pytest

from capture.events import Event, Key, Marker
from capture.secure_input.atspi import (
    ROLE_PASSWORD_TEXT,
    AtspiSecureInput,
    AtspiSignal,
    AtspiUnavailable,
    FocusTracker,
    _is_focused_password,
    atspi_bus_address,
)
from capture.secure_input.common import SECURE_INPUT, PollingSecureInput, secure_input_marker
from privacy import password_fields
from privacy.password_fields import PasswordFieldRedactor
from tests.waiting import wait_for

ROLE_TEXT = 61  # ROLE_TEXT in AtspiRole: an ordinary entry

APP = ":1.7"
PASSWORD = "/org/a11y/atspi/accessible/11"
ENTRY = "/org/a11y/atspi/accessible/12"


def focus(path: str, gained: bool = True, sender: str = APP) -> AtspiSignal:
    return AtspiSignal(sender, path, "StateChanged", "focused", int(gained))


def deactivate(sender: str = APP) -> AtspiSignal:
    return AtspiSignal(sender, "/org/a11y/atspi/accessible/14", "Deactivate", "", 0)


ROLES = {(APP, PASSWORD): ROLE_PASSWORD_TEXT, (APP, ENTRY): ROLE_TEXT}


class FakeBus:
    """An AtspiBus fed from a list; lost once the list is empty when ``lose`` is set."""

    def __init__(
        self, signals: list[AtspiSignal], focused: bool = False, lose: bool = False
    ) -> None:
        self.signals = deque(signals)
        self.focused = focused
        self.lose = lose
        self.closed = False

    def next_signal(self, timeout: float) -> AtspiSignal | None:
        if self.signals:
            return self.signals.popleft()
        if self.lose:
            raise AtspiUnavailable("the accessibility bus connection was lost (test)")
        time.sleep(min(timeout, 0.01))  # a quiet bus: the read blocks until its timeout
        return None

    def role_of(self, sender: str, path: str) -> int | None:
        return ROLES.get((sender, path))

    def focused_password(self) -> bool:
        return self.focused

    def close(self) -> None:
        self.closed = True


def actives(events: list[Event]) -> list[bool]:
    return [e.detail["active"] for e in events if isinstance(e, Marker) and e.kind == SECURE_INPUT]


# -- the focus tracker ------------------------------------------------------------------


def test_tracker_is_active_while_a_password_text_has_focus() -> None:
    tracker = FocusTracker(lambda s, p: ROLES.get((s, p)))
    assert tracker.feed(focus(PASSWORD)) and tracker.active
    assert not tracker.feed(focus(PASSWORD))  # GTK repeats the event: no change
    assert tracker.feed(focus(ENTRY)) and not tracker.active
    assert tracker.feed(focus(PASSWORD)) and tracker.active
    assert tracker.feed(focus(PASSWORD, gained=False)) and not tracker.active


def test_tracker_ignores_focus_lost_by_another_object() -> None:
    tracker = FocusTracker(lambda s, p: ROLES.get((s, p)))
    tracker.feed(focus(PASSWORD))
    assert not tracker.feed(focus(ENTRY, gained=False)) and tracker.active


def test_tracker_turns_off_when_the_focused_window_deactivates() -> None:
    # Focus moving to an application without AT-SPI (xterm) only shows as this.
    tracker = FocusTracker(lambda s, p: ROLES.get((s, p)))
    tracker.feed(focus(PASSWORD))
    assert not tracker.feed(deactivate(sender=":1.99"))  # some other application
    assert tracker.feed(deactivate()) and not tracker.active


def test_tracker_fails_closed_when_the_role_cannot_be_read() -> None:
    tracker = FocusTracker(lambda s, p: None)
    assert tracker.feed(focus("/gone")) and tracker.active


def test_cache_items_are_read_in_either_layout() -> None:
    focused = [1 << 12, 0]
    refs = (("a", "/1"), ("a", "/r"), ("a", "/0"))
    new: tuple[object, ...] = (*refs, 0, 0, [], "", ROLE_PASSWORD_TEXT, "", focused)
    old: tuple[object, ...] = (*refs, [], [], "", ROLE_PASSWORD_TEXT, "", focused)
    assert _is_focused_password(new) and _is_focused_password(old)
    assert not _is_focused_password((*new[:-1], [0, 0]))
    assert not _is_focused_password((*new[:7], ROLE_TEXT, "", focused))
    assert not _is_focused_password(("garbage",))


# -- the AT-SPI source ------------------------------------------------------------------


def test_source_emits_the_initial_answer_then_every_change() -> None:
    bus = FakeBus([focus(ENTRY), focus(PASSWORD), focus(PASSWORD), deactivate()], focused=True)
    events: list[Event] = []
    source = AtspiSecureInput(connect=lambda: bus)
    source.start(events.append)
    try:
        wait_for(
            lambda: not bus.signals and len(events) >= 4, "not bus.signals and len(events) >= 4"
        )
    finally:
        source.stop()
    assert actives(events) == [True, False, True, False]
    assert all(e.detail == {"active": e.detail["active"]} for e in events)  # type: ignore[union-attr]
    assert bus.closed and source.unavailable is None


def test_unavailable_bus_never_raises_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    attempts: list[int] = []

    def connect() -> FakeBus:
        attempts.append(1)
        raise AtspiUnavailable("no D-Bus session bus (test reason 1)")

    events: list[Event] = []
    source = AtspiSecureInput(connect=connect, retry_interval=0.01)
    source.start(events.append)  # returns: the other sources start as usual
    try:
        wait_for(lambda: len(attempts) >= 3, "len(attempts) >= 3")
    finally:
        source.stop()
    assert events == []
    assert source.unavailable == "no D-Bus session bus (test reason 1)"
    lines = [r for r in caplog.records if "test reason 1" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO


def test_lost_bus_is_reconnected_and_the_focus_read_again() -> None:
    buses = deque([FakeBus([focus(PASSWORD)], lose=True), FakeBus([], focused=False)])
    events: list[Event] = []
    source = AtspiSecureInput(connect=buses.popleft, retry_interval=0.01)
    source.start(events.append)
    try:
        wait_for(lambda: len(events) >= 3, "len(events) >= 3")
    finally:
        source.stop()
    assert actives(events)[:3] == [False, True, False]


def test_bus_address_comes_from_the_environment_or_says_why_not() -> None:
    assert atspi_bus_address({"AT_SPI_BUS_ADDRESS": "unix:path=/x"}) == "unix:path=/x"
    with pytest.raises(AtspiUnavailable, match="no D-Bus session bus"):
        atspi_bus_address({})
    with pytest.raises(AtspiUnavailable, match="session bus"):
        atspi_bus_address({"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"})


# -- the polled backends ----------------------------------------------------------------


class ScriptedPoll(PollingSecureInput):
    def __init__(self, answers: list[bool | Exception], reason: str | None = None) -> None:
        super().__init__(poll_interval=0.001)
        self.answers = deque(answers)
        self.reason = reason
        self.done = threading.Event()

    def check(self) -> str | None:
        return self.reason

    def read_active(self) -> bool:
        if not self.answers:
            self.done.set()
            return False
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_polling_emits_changes_only_and_counts_read_errors() -> None:
    source = ScriptedPoll([False, False, True, OSError("gone"), True, False])
    events: list[Event] = []
    source.start(events.append)
    try:
        assert source.done.wait(5)
    finally:
        source.stop()
    assert actives(events) == [False, True, False]
    assert source.read_errors == 1


def test_polling_backend_that_cannot_run_starts_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    source = ScriptedPoll([True], reason="no such API here (test reason 2)")
    events: list[Event] = []
    source.start(events.append)
    source.stop()
    assert events == [] and source.unavailable == "no such API here (test reason 2)"
    assert any("test reason 2" in r.getMessage() for r in caplog.records)


def test_other_platform_backends_say_why_they_cannot_run_here() -> None:
    from capture.secure_input.macos import MacSecureInput
    from capture.secure_input.windows import WindowsSecureInput

    assert "macOS" in (MacSecureInput().check() or "")
    assert "Windows" in (WindowsSecureInput().check() or "")


# -- what the privacy chain makes of it -------------------------------------------------


def test_marker_drives_the_password_field_redactor() -> None:
    assert SECURE_INPUT == password_fields.SECURE_INPUT
    redactor = PasswordFieldRedactor()

    def key(char: str) -> Key:
        return Key(ts=0.0, mono=0.0, key=char, char=char, pressed=True)

    assert redactor(secure_input_marker(True)) is not None
    hidden = redactor(key("s"))
    assert isinstance(hidden, Key) and hidden.char is None and hidden.redacted == "password"
    redactor(secure_input_marker(False))
    shown = redactor(key("t"))
    assert isinstance(shown, Key) and shown.char == "t"
