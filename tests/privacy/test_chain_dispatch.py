"""Type dispatch in the chain: skipping stages changes nothing that is stored or counted.

The chain skips a stage for event classes outside its ``acts_on``, and a buffering
stage for its ``passes_when_idle`` classes while it is idle. The reference here is the
same stages behind wrappers that declare nothing, so the chain visits every stage for
every event; both must release the same events and count the same removals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from capture.events import Event, Frame, Key, Marker, MouseButton, MouseMove, Scroll, Window
from privacy.chain import AnyStage, BufferingStage, Chain
from privacy.pipeline import build_stages
from tests.privacy_helpers import keys_for


class _Opaque:
    """A buffering stage hiding the wrapped stage's dispatch declarations."""

    def __init__(self, stage: BufferingStage) -> None:
        self.stage = stage
        self.name = stage.name

    def process(self, event: Event) -> list[Event]:
        return self.stage.process(event)

    def tick(self, now_mono: float) -> list[Event]:
        return self.stage.tick(now_mono)

    def flush(self) -> list[Event]:
        return self.stage.flush()

    def take_removed(self) -> dict[str, int]:
        take = getattr(self.stage, "take_removed", None)
        return take() if callable(take) else {}


def _opaque(stage: AnyStage) -> AnyStage:
    if isinstance(stage, BufferingStage):
        return _Opaque(stage)
    plain: Callable[[Event], Event | None] = stage

    def call(event: Event) -> Event | None:
        return plain(event)

    call.__name__ = str(getattr(stage, "name", "stage"))
    return call


def _gate(event: Event) -> Event | None:
    # A stand-in for the consent gate: drops a window of time.
    return None if 40.0 <= event.ts < 41.0 and not isinstance(event, Marker) else event


_gate.name = "consent"  # type: ignore[attr-defined]


def _chains() -> tuple[Chain, Chain]:
    fast = Chain(build_stages(leading=[_gate], idle_seconds=1.0))
    reference = Chain([_opaque(s) for s in build_stages(leading=[_gate], idle_seconds=1.0)])
    return fast, reference


WINDOWS = [
    ("Terminal", "xterm"),
    ("Inbox - sam@example.com - Mail", "thunderbird"),
    ("KeePassXC", "KeePassXC"),
    ("Enter password", "pinentry"),
    ("Editor", "code"),
]
TEXTS = [
    "hello world\n",
    "4111 1111 1111 1111\t",
    "sudo ls\n",
    "hunter2\n",
    "sam@example.com",
    "abc\b\bxy\n",
    "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
]


def _piece(kind: int, n: int, t: float) -> list[Event]:
    if kind == 0:
        return [MouseMove(ts=t, mono=t, x=n, y=n, sensitivity=1 + n % 4)]
    if kind == 1:
        return [MouseButton(ts=t, mono=t, x=1, y=1, button="left", pressed=n % 2 == 0)]
    if kind == 2:
        return [Scroll(ts=t, mono=t, x=1, y=1, dx=0, dy=-1)]
    if kind == 3:
        title, app = WINDOWS[n % len(WINDOWS)]
        return [Window(ts=t, mono=t, title=title, app=app, pid=n % 3)]
    if kind == 4:
        return list(keys_for(TEXTS[n % len(TEXTS)], start=t, step=0.01))
    if kind == 5:
        return [Frame(ts=t, mono=t, width=4, height=4, image=b"x")]
    if kind == 6:
        return [Marker(ts=t, mono=t, kind="secure_input", detail={"active": n % 2 == 0})]
    return [Key(ts=t, mono=t, key="shift", pressed=n % 2 == 0, char=None)]


def _drive(chain: Chain, script: list[tuple[int, int, float]]) -> tuple[list[Any], Any]:
    out: list[Event] = []
    t = 30.0
    for kind, n, gap in script:
        t += gap
        if kind == 8:
            out += chain.tick(t + 5)
            continue
        if kind == 9:
            out += chain.flush()
            continue
        for event in _piece(kind, n, t):
            out += chain.process(event)
    out += chain.flush()
    # A flush inside a denied window stamps its marker from the clock: compare the rest.
    stable = [
        dataclasses.replace(e, ts=0.0, mono=0.0) if isinstance(e, Marker) and e.ts > 1e6 else e
        for e in out
    ]
    return stable, chain.take_removed()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 20), st.floats(0.0, 2.0, allow_nan=False)),
        max_size=60,
    )
)
def test_dispatch_releases_and_counts_exactly_what_visiting_every_stage_does(
    script: list[tuple[int, int, float]],
) -> None:
    fast, reference = _chains()
    assert _drive(fast, script) == _drive(reference, script)


def test_a_pointer_move_skips_the_stages_that_cannot_touch_it() -> None:
    seen: list[str] = []

    class Spy:
        name = "spy"
        acts_on = frozenset({Window})

        def __call__(self, event: Event) -> Event | None:
            seen.append(event.type)
            return event

    chain = Chain([Spy()])
    move = MouseMove(ts=1.0, mono=1.0, x=1, y=1)
    assert chain.process(move) == [move]
    window = Window(ts=2.0, mono=2.0, title="t", app="a")
    assert chain.process(window) == [window]
    assert seen == ["window"]


def test_focus_changes_reach_the_stages_that_follow_them() -> None:
    # A password prompt in one terminal must not make the next line typed in another
    # window a secret: the typed-text stage has to see the focus change while idle.
    # (A tick after each line lets the stage go idle before the next window event.)
    script = [
        (3, 0, 0.0),
        (4, 2, 0.1),
        (8, 0, 0.5),
        (3, 4, 0.5),
        (4, 0, 0.1),
        (8, 0, 0.5),
        (3, 3, 0.5),
        (4, 0, 0.1),
        (8, 0, 0.5),
        (6, 0, 0.5),
        (3, 2, 0.5),
        (0, 3, 0.1),
        (3, 0, 0.1),
        (4, 3, 0.1),
    ]
    fast, reference = _chains()
    assert _drive(fast, script) == _drive(reference, script)
