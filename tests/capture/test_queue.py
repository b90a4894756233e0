"""The bounded event queue counts every drop."""

from __future__ import annotations

import threading

from capture.events import Key, MouseMove
from capture.queue import EventQueue


def move(i: int) -> MouseMove:
    return MouseMove(ts=float(i), mono=float(i), x=i, y=i)


def test_overflow_is_counted_by_type() -> None:
    queue = EventQueue(maxsize=3)
    for i in range(5):
        queue.offer(move(i))
    queue.offer(Key(ts=9.0, mono=9.0, key="a", pressed=True, char="a"))
    assert len(queue) == 3
    assert queue.take_dropped() == {"mouse_move": 2, "key": 1}
    assert queue.take_dropped() == {}
    assert queue.offered == 6


def test_drain_keeps_order_and_respects_limit() -> None:
    queue = EventQueue(maxsize=100)
    for i in range(10):
        queue.offer(move(i))
    first = queue.drain(limit=4)
    rest = queue.drain()
    assert [e.x if isinstance(e, MouseMove) else e for e in first] == [0, 1, 2, 3]
    assert [e.x if isinstance(e, MouseMove) else e for e in rest] == list(range(4, 10))
    assert queue.drain() == []


def test_blocking_put_waits_for_room_and_gives_up_on_stop() -> None:
    queue = EventQueue(maxsize=1)
    stop = threading.Event()
    assert queue.put(move(0), stop)
    stop.set()
    assert queue.put(move(1), stop) is False
    assert len(queue) == 1


def test_concurrent_producers_lose_nothing_uncounted() -> None:
    queue = EventQueue(maxsize=1000)

    def produce() -> None:
        for i in range(2000):
            queue.offer(move(i))

    threads = [threading.Thread(target=produce) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dropped = sum(queue.take_dropped().values())
    assert len(queue) + dropped == 8000
    assert len(queue) == 1000
