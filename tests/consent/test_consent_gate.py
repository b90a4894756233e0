"""The consent gate: nothing stamped at or after a pause instant gets through."""

from __future__ import annotations

import bisect
import threading
from pathlib import Path

from capture.events import Event, Key, Marker, MouseMove
from consent.gate import ConsentGate
from consent.state import ConsentMachine
from privacy.chain import Chain

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def key(ts: float) -> Key:
    return Key(ts=ts, mono=ts - T0, key="a", pressed=True, char="a")


def test_gate_drops_events_at_and_after_the_pause_even_when_late(tmp_path: Path) -> None:
    clock = FakeClock()
    m = ConsentMachine(tmp_path / "s.json", clock=clock)
    gate = ConsentGate(m)
    m.opt_in()
    # Events stamped while recording, not yet processed when the pause happens.
    queued: list[Event] = [key(T0 + 1), key(T0 + 4.999)]
    clock.now = T0 + 5
    pause = m.snooze(10)
    # Events stamped at and after the pause instant that still reach the queue.
    queued += [key(T0 + 5), key(T0 + 5.001), MouseMove(ts=T0 + 6, mono=6, x=1, y=2)]
    queued.append(pause.marker(mono=5.0))
    clock.now = T0 + 20
    resume = m.resume()
    assert resume is not None
    queued += [resume.marker(mono=20.0), key(T0 + 19.9), key(T0 + 20), key(T0 + 21)]
    # Processed only now, well after both transitions.
    kept = [e for e in queued if gate(e) is not None]
    assert [(e.type, e.ts) for e in kept] == [
        ("key", T0 + 1),
        ("key", T0 + 4.999),
        ("marker", T0 + 5),
        ("marker", T0 + 20),
        ("key", T0 + 20),
        ("key", T0 + 21),
    ]


def test_gate_drops_everything_before_consent(tmp_path: Path) -> None:
    m = ConsentMachine(tmp_path / "s.json", clock=FakeClock())
    gate = ConsentGate(m)
    assert gate(key(T0)) is None
    assert gate(key(T0 + 1e6)) is None


def test_non_consent_markers_are_judged_like_events(tmp_path: Path) -> None:
    m = ConsentMachine(tmp_path / "s.json", clock=FakeClock())
    gate = ConsentGate(m)
    # A drop count while not recording would tell how active the person was.
    assert gate(Marker(ts=T0, mono=0, kind="dropped", detail={"count": 12})) is None
    blocked = Marker(ts=T0, mono=0, kind="blocked", detail={})
    assert gate(blocked) is blocked


def test_gate_in_the_chain_counts_drops(tmp_path: Path) -> None:
    clock = FakeClock()
    m = ConsentMachine(tmp_path / "s.json", clock=clock)
    chain = Chain([ConsentGate(m)])
    assert chain.process(key(T0)) == []
    m.opt_in()
    assert chain.process(key(T0)) == [key(T0)]
    assert chain.take_removed() == {"consent": {"key": 1}}


def test_gate_is_consistent_with_transitions_on_another_thread(tmp_path: Path) -> None:
    """Events stamped from a shared clock and gated on one thread, pauses and resumes on
    another: the gate keeps exactly the events stamped inside a recording interval."""
    tick = [T0]
    lock = threading.Lock()

    def clock() -> float:
        with lock:
            tick[0] += 0.001
            return tick[0]

    m = ConsentMachine(tmp_path / "s.json", clock=clock)
    gate = ConsentGate(m)
    m.opt_in()
    stop = threading.Event()

    def toggler() -> None:
        for _ in range(50):
            m.snooze(1)
            m.resume()
        stop.set()

    decisions: list[tuple[float, bool]] = []
    thread = threading.Thread(target=toggler)
    thread.start()
    while not stop.is_set() and len(decisions) < 200_000:
        event = key(clock())
        decisions.append((event.ts, gate(event) is not None))
    thread.join()
    intervals = m.intervals()
    assert len(intervals) == 51

    def inside(ts: float) -> bool:
        index = bisect.bisect_right([s for s, _ in intervals], ts) - 1
        if index < 0:
            return False
        end = intervals[index][1]
        return end is None or ts < end

    assert decisions  # how many fall inside intervals depends on thread scheduling
    assert all(kept == inside(ts) for ts, kept in decisions)


def test_gate_waits_for_a_pause_whose_instant_is_fixed_but_not_yet_applied(tmp_path: Path) -> None:
    """A pause on another thread has read its instant and is still saving the state
    file: an event stamped after that instant must not slip through while the machine
    is mid-change (the lock-free answer must be off by then)."""
    clock = FakeClock()
    instant_read = threading.Event()
    release = threading.Event()
    stall = [False]

    def stalling_clock() -> float:
        now = clock()
        if stall[0]:
            instant_read.set()
            release.wait(5)  # the pause is stuck between reading its instant and applying it
        return now

    m = ConsentMachine(tmp_path / "s.json", clock=stalling_clock)
    gate = ConsentGate(m)
    m.opt_in()
    assert gate(key(T0 + 1)) is not None  # recording: answered without the lock
    clock.now = T0 + 5
    stall[0] = True
    pauser = threading.Thread(target=m.snooze, args=(10,))
    pauser.start()
    assert instant_read.wait(5)
    answers: list[bool] = []
    gater = threading.Thread(target=lambda: answers.append(gate(key(T0 + 6)) is not None))
    gater.start()
    gater.join(0.2)
    assert gater.is_alive()  # it waits for the change rather than answering early
    release.set()
    pauser.join()
    gater.join()
    assert answers == [False]
    stall[0] = False
    # Stamped before the pause instant: still kept, however late it is judged.
    assert gate(key(T0 + 4.999)) is not None
    assert gate(key(T0 + 5)) is None


def test_gate_answers_while_the_lock_is_held_by_a_reader(tmp_path: Path) -> None:
    """Recording and no change under way: judging an event takes no lock, so a slow
    reader of the state (or a stuck status request) never stalls the pipeline."""
    m = ConsentMachine(tmp_path / "s.json", clock=FakeClock())
    gate = ConsentGate(m)
    m.opt_in()
    answers: list[bool] = []
    with m._lock:
        worker = threading.Thread(target=lambda: answers.append(gate(key(T0 + 1)) is not None))
        worker.start()
        worker.join(5)
        assert answers == [True]
    # Before the interval began: judged by the locked scan, and dropped.
    assert gate(key(T0 - 1)) is None


def test_fast_path_follows_every_transition(tmp_path: Path) -> None:
    """After every kind of change the gate's answers match the recorded intervals."""
    clock = FakeClock()
    # No wall step here: the wall clock serves as the monotonic one too.
    m = ConsentMachine(tmp_path / "s.json", clock=clock, monotonic=clock)
    gate = ConsentGate(m)

    def snooze_expires() -> object:
        clock.now += 120
        return m.tick()

    steps = [
        m.opt_in,
        lambda: m.snooze(1),
        m.resume,
        lambda: m.block("fleet pause"),
        m.unblock,
        lambda: m.set_mode("opt-out"),
        m.opt_out,
        m.opt_in,
        lambda: m.snooze(1),
        snooze_expires,
        m.opt_out,
    ]
    probes: list[float] = []
    for step in steps:
        clock.now += 10
        step()
        probes += [clock.now - 0.001, clock.now, clock.now + 5]
    intervals = m.intervals()
    for ts in probes:
        expected = any(s <= ts and (e is None or ts < e) for s, e in intervals)
        assert (gate(key(ts)) is not None) == expected, ts
