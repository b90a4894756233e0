"""Keyboard and mouse events from the X RECORD extension, read straight off the socket.

pynput's X11 listener receives the same stream through python-xlib's generic reply
machinery and turns every event into an object before it calls back; on the reference
workload that cost more CPU than all of the agent's own input handling
(docs/PERFORMANCE.md). Here one recording connection serves keyboard and mouse, the
replies are framed by hand, and each 32-byte core event is read with one ``struct``
call. python-xlib still does what it is good at: opening the connections (display
name, authorisation), creating and disabling the recording context, and the keyboard
mapping. Nothing is translated here: the handler gets the raw detail (button or key
code), pointer position and modifier state, on this module's thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from typing import Any, Protocol

from capture.input.server_time import ServerClock

log = logging.getLogger(__name__)

# Core event codes (X11 protocol).
KEY_PRESS, KEY_RELEASE, BUTTON_PRESS, BUTTON_RELEASE, MOTION_NOTIFY = 2, 3, 4, 5, 6
_GENERIC_EVENT = 35
_MAPPING_NOTIFY = 34

# RECORD reply categories (RECORD extension protocol, EnableContext reply).
FROM_SERVER, START_OF_DATA, END_OF_DATA = 0, 4, 5
_RECORD_ENABLE_CONTEXT = 5  # the request's minor opcode
_ALL_CLIENTS = 3

# A reply header: type (1), category, sequence, length in 4-byte units beyond 32, ...
_REPLY_LENGTH = struct.Struct("=I")
# A core input event: type, detail, 2 bytes (sequence), time (server milliseconds),
# 12 bytes (root, event, child), root x, root y, 4 bytes (event x, y), state, 2 bytes.
# The connection speaks the host's byte order (python-xlib opens it so), hence "=".
_EVENT = struct.Struct("=BB2xI12xhh4xH2x")
assert _EVENT.size == 32


class DeviceHandler(Protocol):
    """What the recording thread calls for each input event (it must not block).

    ``ts`` (wall) and ``mono`` (monotonic) say when the event happened, from the
    server's time of it (``capture.input.server_time``), not when it was read.
    """

    def motion(self, ts: float, mono: float, x: int, y: int) -> None: ...

    def button(
        self, ts: float, mono: float, detail: int, pressed: bool, x: int, y: int
    ) -> None: ...

    def key(self, ts: float, mono: float, keycode: int, state: int, pressed: bool) -> None: ...

    def mapping_changed(self) -> None:
        """The server announced a new keyboard (or modifier, or pointer) mapping."""
        ...

    def idle(self, rested: bool) -> float | None:
        """Called after each read (``rested`` False) and when a read got nothing in the
        time asked or while gathering (True: input rests): do deferred work, return how
        many seconds may pass before the next call (None: no limit)."""
        ...


class RecordUnavailable(Exception):
    """The display cannot record input (no connection, no RECORD extension)."""


class RecordStream:
    """Frames RECORD replies from received bytes and hands their events to a handler.

    ``feed(data)`` takes whatever the socket gave (partial replies are kept for the
    next call) and returns False once the server said the recording ended. Pure: no
    socket, so it is tested with bytes built in the test (and a ``clock`` of its own).
    """

    def __init__(self, handler: DeviceHandler, clock: ServerClock | None = None) -> None:
        self._handler = handler
        self.clock = clock or ServerClock()
        self._buffer = bytearray()
        self.started = False
        # Whether the last ``feed`` held pointer motion and no key event or mapping
        # notice: only then does the next read gather (see GATHER).
        self.moving = False
        self.ended = False

    def feed(self, data: bytes) -> bool:
        """Consume ``data``; False when the end of the recording was seen."""
        self.clock.read()
        self.moving = moved = keyboard = False
        last_ms = -1
        buffer = self._buffer
        buffer += data
        end = len(buffer)
        pos = 0
        unpack_length = _REPLY_LENGTH.unpack_from
        while end - pos >= 32:
            kind = buffer[pos]
            if kind == 0:
                # An X error on the recording connection: the context went away under
                # us. Stop rather than misread the stream.
                code = buffer[pos + 1]
                raise RecordUnavailable(f"the X server ended input recording (error {code})")
            if kind != 1:
                # An event sent to every client: not part of the recording; 32 bytes
                # unless generic. MappingNotify arrives here in order with the
                # recorded keys, so the keys after it are read with the new mapping.
                size = 32
                if kind & 0x7F == _GENERIC_EVENT:
                    size += 4 * unpack_length(buffer, pos + 4)[0]
                if end - pos < size:
                    break
                if kind & 0x7F == _MAPPING_NOTIFY:
                    self._handler.mapping_changed()
                    keyboard = True
                pos += size
                continue
            size = 32 + 4 * unpack_length(buffer, pos + 4)[0]
            if end - pos < size:
                break
            category = buffer[pos + 1]
            if category == FROM_SERVER:
                motion, keys, last_ms = self._events(buffer, pos + 32, pos + size, last_ms)
                moved |= motion
                keyboard |= keys
            elif category == START_OF_DATA:
                self.started = True
            elif category == END_OF_DATA:
                self.ended = True
                del buffer[:]
                return False
            pos += size
        if pos:
            del buffer[:pos]
        self.moving = moved and not keyboard
        if last_ms >= 0:
            self.clock.learn(last_ms)
        return True

    def _events(self, data: bytearray, pos: int, end: int, last_ms: int) -> tuple[bool, bool, int]:
        """Hand the events to the handler, stamped; whether there was pointer motion,
        whether there were keys, and the server time of the last event."""
        handler = self._handler
        unpack = _EVENT.unpack_from
        clock = self.clock
        offset, read, wall = clock.offset, clock.read_mono, clock.wall_minus_mono
        oldest = read - clock.MAX_LAG
        moved = keys = False
        while end - pos >= 32:
            kind, detail, last_ms, x, y, state = unpack(data, pos)
            kind &= 0x7F  # the "sent by SendEvent" bit
            # When it happened (capture.input.server_time), inline: this runs for every event.
            mono = last_ms / 1000.0 + offset
            if mono > read or mono < oldest:  # the mapping is not learnt yet, or wrong
                mono = read
            if kind == MOTION_NOTIFY:
                handler.motion(mono + wall, mono, x, y)
                moved = True
            elif kind in (BUTTON_PRESS, BUTTON_RELEASE):
                handler.button(mono + wall, mono, detail, kind == BUTTON_PRESS, x, y)
            elif kind in (KEY_PRESS, KEY_RELEASE):
                handler.key(mono + wall, mono, detail, state, kind == KEY_PRESS)
                keys = True
            elif kind == _GENERIC_EVENT:  # longer than 32 bytes; never requested
                pos += 4 * _REPLY_LENGTH.unpack_from(data, pos + 4)[0]
            pos += 32
        return moved, keys, last_ms


GATHER = 0.05
"""While the pointer moves, a read waits up to this many seconds for more (or
``GATHER_BYTES``): one wake-up for a batch of events instead of one each, which saves
CPU per event (docs/PERFORMANCE.md). Events keep their
server time (``capture.input.server_time``), so waiting changes no timestamp. A read that
gets no motion, or gets a key, goes back to returning with the first byte: a key is
named with the keyboard mapping read when it arrives, and a program that binds a spare
key code to type one character (xdotool, input methods) unbinds it right after the
release. A key typed within GATHER of the pointer moving still waits for the batch;
such a borrowed key code may then be named without its character ("vk_<n>")."""
GATHER_BYTES = 64 * 16
"""A read while gathering returns once this many bytes (16 recorded events) are in."""


def _gather(sock: socket.socket, on: bool) -> bool:
    """Make reads wait for a batch (``on``) or return with the first byte; whether
    reads now gather (False where the socket options are not supported)."""
    try:
        if on:
            sock.settimeout(None)  # blocking: the kernel applies the two options below
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, int(GATHER * 1_000_000))
            )
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, GATHER_BYTES)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
    except OSError:
        return False
    return on


def event_range(keyboard: bool, mouse: bool) -> tuple[int, int]:
    """The contiguous range of core device events to record."""
    if not (keyboard or mouse):
        raise ValueError("record the keyboard, the mouse or both")
    first = KEY_PRESS if keyboard else BUTTON_PRESS
    last = MOTION_NOTIFY if mouse else KEY_RELEASE
    return first, last


class XRecordListener:
    """Records the keyboard and/or mouse of the X display in ``DISPLAY``.

    ``start()`` opens two connections (python-xlib; one to control the recording, one
    that receives it, as the RECORD specification asks), starts the reading thread and
    returns once the server confirmed the recording; it raises ``RecordUnavailable``
    otherwise. ``stop()`` disables the context from the control connection, which ends
    the stream, and joins the thread. ``display`` (the control connection) has the
    keyboard mapping; ``refresh_keyboard_mapping`` applies the changes the server
    announced to it (call it from the handler's ``mapping_changed``, on this thread).
    """

    def __init__(
        self,
        handler: DeviceHandler,
        keyboard: bool = True,
        mouse: bool = True,
        name: str = "input-x11",
    ) -> None:
        self._handler = handler
        self._range = event_range(keyboard, mouse)
        self._name = name
        self.display: Any = None
        self._record: Any = None
        self._context: int | None = None
        self._stream = RecordStream(handler)
        self._started = threading.Event()
        self._thread: threading.Thread | None = None
        self.failure: str | None = None

    def start(self, timeout: float = 5.0) -> None:
        """Begin recording; raises RecordUnavailable with the reason if it cannot."""
        from Xlib import display as xdisplay
        from Xlib import error as xerror

        try:
            self.display = xdisplay.Display()
            self._record = xdisplay.Display()
        except (xerror.DisplayError, xerror.ConnectionClosedError, OSError) as exc:
            self._close_connections()
            raise RecordUnavailable(
                f"cannot connect to the X display ({type(exc).__name__})"
            ) from None
        try:
            if not self.display.has_extension("RECORD"):
                raise RecordUnavailable("the X server has no RECORD extension")
            first, last = self._range
            self._context = self.display.record_create_context(
                0,
                [_ALL_CLIENTS],
                [
                    {
                        "core_requests": (0, 0),
                        "core_replies": (0, 0),
                        "ext_requests": (0, 0, 0, 0),
                        "ext_replies": (0, 0, 0, 0),
                        "delivered_events": (0, 0),
                        "device_events": (first, last),
                        "errors": (0, 0),
                        "client_started": False,
                        "client_died": False,
                    }
                ],
            )
            self.display.sync()
            major = self._record.display.get_extension_major("RECORD")
            # From here on the recording connection is read by this module alone:
            # python-xlib has nothing queued on it (flushed), and never reads it again.
            self._record.flush()
            sock: socket.socket = self._record.display.socket
            sock.sendall(struct.pack("=BBHI", major, _RECORD_ENABLE_CONTEXT, 2, self._context))
        except RecordUnavailable:
            self._close_connections()
            raise
        except Exception as exc:
            self._close_connections()
            raise RecordUnavailable(
                f"cannot start recording input ({type(exc).__name__})"
            ) from None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=self._name, daemon=True
        )
        self._thread.start()
        if not self._started.wait(timeout):
            reason = self.failure or f"the X server did not start recording within {timeout:g} s"
            self.stop()
            raise RecordUnavailable(reason)

    def is_alive(self) -> bool:
        """True while the reading thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """End the recording and join the thread; safe to call more than once."""
        thread = self._thread
        if self._context is not None and self.display is not None:
            with contextlib.suppress(Exception):  # the server may be gone already
                self.display.record_disable_context(self._context)
                self.display.sync()
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and self._record is not None:
                # The server did not end the stream: unblock the read ourselves.
                with contextlib.suppress(OSError):
                    self._record.display.socket.shutdown(socket.SHUT_RDWR)
                thread.join(timeout)
            self._thread = None
        if self._context is not None and self.display is not None:
            with contextlib.suppress(Exception):
                self.display.record_free_context(self._context)
                self.display.sync()
        self._context = None
        self._close_connections()

    def refresh_keyboard_mapping(self) -> None:
        """Re-read the whole keyboard mapping (handler's thread; a round trip).

        Called when the recording showed a MappingNotify; the control connection's own
        copies of those notices are dropped, it selects no other events.
        """
        display = self.display
        if display is None:
            return
        from Xlib import X
        from Xlib.protocol import event as xevent

        with contextlib.suppress(Exception):  # stop() may close the display meanwhile
            while display.pending_events():
                display.next_event()
            info = display.display.info
            display.refresh_keyboard_mapping(
                xevent.MappingNotify(
                    request=X.MappingKeyboard,
                    first_keycode=info.min_keycode,
                    count=info.max_keycode - info.min_keycode + 1,
                    sequence_number=0,
                )
            )

    def _run(self, sock: socket.socket) -> None:
        stream, started, idle = self._stream, self._started, self._handler.idle
        recv = sock.recv
        timeout: float | None = None
        gathering = False
        try:
            while True:
                if not gathering:
                    sock.settimeout(timeout)
                try:
                    data = recv(65536)
                except TimeoutError:  # the handler's wait ran out
                    timeout = idle(True)
                    continue
                except BlockingIOError:  # gathering, and nothing came: input rests
                    gathering = _gather(sock, False)
                    timeout = idle(True)
                    continue
                if not data:
                    self.failure = "the X server closed the connection"
                    return
                if not stream.feed(data):
                    return
                if not started.is_set() and stream.started:
                    started.set()
                if gathering != stream.moving:  # gather while only the pointer moves
                    gathering = _gather(sock, stream.moving)
                timeout = idle(False)
        except RecordUnavailable as exc:
            self.failure = str(exc)
        except OSError as exc:
            self.failure = f"reading input from the X server failed ({type(exc).__name__})"
        except Exception as exc:
            # A bug in a handler must not pass silently: the thread ends, is_alive()
            # turns False and the health check reports input stopped.
            self.failure = f"input handling failed ({type(exc).__name__})"
            log.error("input recording stopped: %s", type(exc).__name__)
        finally:
            if self.failure is not None and not stream.ended:
                log.warning("input recording ended: %s", self.failure)

    def _close_connections(self) -> None:
        for conn in (self._record, self.display):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._record = None
        self.display = None
