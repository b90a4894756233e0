"""The focused window on X11, through python-xlib and the EWMH hints.

The window manager publishes the focused window in the root window's
``_NET_ACTIVE_WINDOW`` property; applications publish their title in ``_NET_WM_NAME``
(UTF-8) or ``WM_NAME``. We listen for PropertyNotify on the root window and on the
active window, so a focus change or a title change is seen at once without polling.
The thread sleeps on the connection's file descriptor and on a pipe that ``stop()``
writes to, so it wakes only for X events and returns promptly when stopped. Windows
vanish at any moment (closed while we read them): every X error is caught and the
window is treated as gone. No Xlib object leaves this module.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from typing import Any

from capture.base import SourceBase, SourceCounters
from capture.errors import SourceUnavailable
from capture.events import Emit
from capture.window.browser_url import TAB_WAIT, tabs
from capture.window.info import NO_FOCUS, FocusInfo, window_event

log = logging.getLogger(__name__)


class X11WindowSource(SourceBase):
    """Window-focus source ("window") for X11 with an EWMH window manager.

    Emits a ``Window`` event for the window focused at start, then whenever the focused
    window or its title changes. ``display`` defaults to $DISPLAY.
    """

    name = "window"

    def __init__(self, display: str | None = None, no_focus_delay: float = 0.2) -> None:
        self.display_name = display
        self.no_focus_delay = no_focus_delay
        """Seconds before a focus on no window is reported (it may be a passing state)."""
        self.x_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake: tuple[int, int] | None = None  # a pipe: stop() writes, the thread wakes

    def start(self, emit: Emit) -> None:
        """Connect to the X server and start watching; raises SourceUnavailable."""
        if self._thread is not None:
            return
        from capture.display import check_display

        if self.display_name is None:
            check_display(self.name)
        try:
            from Xlib import display as xdisplay
            from Xlib import error as xerror
        except ImportError:
            raise SourceUnavailable(self.name, "python-xlib is not installed") from None
        try:
            connection = xdisplay.Display(self.display_name)
        except (xerror.DisplayError, OSError) as exc:
            raise SourceUnavailable(
                self.name, f"cannot open the X display ({type(exc).__name__})"
            ) from None
        # The connection is handed to the thread and used by it alone from here on.
        watcher = _Watcher(connection, emit, self)
        self._stop.clear()
        self._wake = os.pipe()
        # A browser tab report may come after the title change: look again then.
        tabs().subscribe(self._tab_reported)
        self._thread = threading.Thread(
            target=watcher.run, args=(self._stop, self._wake[0]), name="window-x11", daemon=True
        )
        self._thread.start()

    def counters(self) -> SourceCounters:
        """X errors so far (a window vanished while read; never fatal)."""
        return SourceCounters(errors=self.x_errors)

    def _tab_reported(self) -> None:
        wake = self._wake
        if wake is not None:
            os.write(wake[1], b"t")

    def stop(self) -> None:
        """Stop watching and join the thread."""
        tabs().unsubscribe(self._tab_reported)
        self._stop.set()
        wake, self._wake = self._wake, None
        if wake is not None:
            os.write(wake[1], b"x")
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if wake is not None:
            for fd in wake:
                os.close(fd)


class _Watcher:
    # Runs on the source's thread and owns the X connection.

    def __init__(self, connection: Any, emit: Emit, owner: X11WindowSource) -> None:
        from Xlib import X, Xatom

        self._X = X
        self.d = connection
        self.emit = emit
        self.owner = owner
        self.root = connection.screen().root
        atom = connection.intern_atom
        self.NET_ACTIVE_WINDOW = atom("_NET_ACTIVE_WINDOW")
        self.NET_WM_NAME = atom("_NET_WM_NAME")
        self.NET_WM_PID = atom("_NET_WM_PID")
        self.WM_NAME = Xatom.WM_NAME
        self.CARDINAL = Xatom.CARDINAL
        self.WINDOW = Xatom.WINDOW
        self.active: Any = None
        self.last: FocusInfo | None = None
        self.none_pending = False
        self.hold_until: float | None = None
        # Errors of requests without a reply (e.g. selecting events on a window that
        # just closed) arrive asynchronously; count them instead of printing to stderr.
        connection.set_error_handler(self._on_async_error)

    def _on_async_error(self, *_args: Any) -> None:
        self.owner.x_errors += 1

    def run(self, stop: threading.Event, wake: int) -> None:
        from Xlib import error as xerror

        d = self.d
        try:
            self.root.change_attributes(event_mask=self._X.PropertyChangeMask)
            self.refresh(force_watch=True, allow_none=True)
            fd = d.fileno()
            while not stop.is_set():
                if not d.pending_events():  # events already read wait in python-xlib
                    # Asleep until the server sends something or stop() writes; a focus
                    # on nothing is reported if it lasts no_focus_delay.
                    timeout = self.owner.no_focus_delay if self.none_pending else None
                    if self.hold_until is not None:  # a browser window awaits its tab
                        timeout = max(0.0, self.hold_until - time.monotonic())
                    readable, _, _ = select.select([fd, wake], [], [], timeout)
                    if stop.is_set():
                        break
                    if not readable:  # focus stayed on nothing: report it now
                        self.refresh(allow_none=True)
                        continue
                    if wake in readable:  # a browser reported its tab (see browser_url)
                        os.read(wake, 512)
                        self.refresh()
                        continue
                changed = False
                for _ in range(d.pending_events()):
                    event = d.next_event()
                    changed |= self._matters(event)
                if changed and not stop.is_set():
                    self.refresh()
        except (xerror.ConnectionClosedError, OSError) as exc:
            log.warning("window watcher lost the X connection: %s", type(exc).__name__)
        finally:
            # Closing a connection the server already dropped may raise; nothing to do.
            with contextlib.suppress(Exception):
                d.close()

    def _matters(self, event: Any) -> bool:
        if event.type != self._X.PropertyNotify:
            return False
        if event.window == self.root:
            return bool(event.atom == self.NET_ACTIVE_WINDOW)
        return (
            self.active is not None
            and event.window == self.active
            and (event.atom in (self.NET_WM_NAME, self.WM_NAME))
        )

    def refresh(self, force_watch: bool = False, allow_none: bool = False) -> None:
        """Re-read the active window and emit if anything we report changed.

        Window managers clear the active window for an instant while switching; "no
        focus" is only reported once it lasted a whole poll interval (``allow_none``).
        """
        window = self._active_window()
        if force_watch or window != self.active:
            self._watch(window)
        self.none_pending = window is None and not allow_none
        if self.none_pending:
            return
        focus = self._describe(window) if window is not None else NO_FOCUS
        if focus != self.last:
            if focus.url is None and tabs().awaiting(focus.app):
                # Its tab's URL is on the way (browser_url.TAB_WAIT): wait, then go on.
                now = time.monotonic()
                self.hold_until = self.hold_until or now + TAB_WAIT
                if now < self.hold_until:
                    return
            self.hold_until = None
            self.last = focus
            self.emit(window_event(focus))

    def _active_window(self) -> Any:
        from Xlib import error as xerror

        try:
            prop = self.root.get_full_property(self.NET_ACTIVE_WINDOW, self.WINDOW)
        except xerror.XError:
            self.owner.x_errors += 1
            return None
        if prop is None or not len(prop.value) or not prop.value[0]:
            return None
        return self.d.create_resource_object("window", int(prop.value[0]))

    def _watch(self, window: Any) -> None:
        # Listen for title changes on the new active window only; the old one's event
        # mask is left alone (it may be gone, and stray events are filtered anyway).
        from Xlib import error as xerror

        self.active = window
        if window is None:
            return
        try:
            window.change_attributes(event_mask=self._X.PropertyChangeMask)
        except xerror.XError:
            self.owner.x_errors += 1

    def _describe(self, window: Any) -> FocusInfo:
        from Xlib import error as xerror

        try:
            title = self._title(window)
            wm_class = window.get_wm_class()
            pid_prop = window.get_full_property(self.NET_WM_PID, self.CARDINAL)
            geometry = window.get_geometry()
            origin = self.root.translate_coords(window, 0, 0)
        except xerror.XError:
            # BadWindow and friends: the window closed while we read it.
            self.owner.x_errors += 1
            return NO_FOCUS
        pid = int(pid_prop.value[0]) if pid_prop is not None and len(pid_prop.value) else None
        return FocusInfo(
            title=title,
            app=wm_class[1] if wm_class else "",
            pid=pid,
            x=int(origin.x),
            y=int(origin.y),
            width=int(geometry.width),
            height=int(geometry.height),
            url=tabs().url_for(title),
        )

    def _title(self, window: Any) -> str:
        # Any type: _NET_WM_NAME should be UTF8_STRING, but some clients (xdotool) write
        # STRING; asking for the wrong type would read as an empty title.
        value = window.get_full_text_property(self.NET_WM_NAME)
        if not value:
            value = window.get_wm_name()
        if isinstance(value, bytes):  # COMPOUND_TEXT and other encodings: best effort
            value = value.decode("utf-8", "replace")
        return value or ""
