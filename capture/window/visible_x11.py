"""The windows visible on an X11 screen, through python-xlib and the EWMH hints.

The window manager lists its client windows on the root window
(``_NET_CLIENT_LIST_STACKING``, bottom to top, else ``_NET_CLIENT_LIST``) with the
active window and the current desktop. A client counts as visible unless the window
manager says it is minimised (``_NET_WM_STATE_HIDDEN`` or ICCCM ``IconicState``, and
not merely shaded: a shaded window still shows its title bar) or on another desktop.
Its outer rectangle, decorations included, is its position on the root
(``TranslateCoords``) widened by its border and ``_NET_FRAME_EXTENTS``; without frame
extents the title bar's size is unknown, so the geometry is None (a denied window
then drops the frame rather than leave its title bar readable).

Cost: each listing is two batches of requests, the root's three properties and then
every client's geometry, position and seven properties, each batch sent at once and its
replies read after (python-xlib's deferred requests): two round trips per frame, not
two per window. The lister owns its own X connection and is used by the screen thread
alone. Windows close at any moment: a BadWindow while reading one means it is gone.
Titles are returned, never logged. No Xlib object leaves this module.
"""

from __future__ import annotations

import contextlib
from typing import Any

from capture.errors import SourceUnavailable
from capture.window.info import process_name
from capture.window.visible import Rect, VisibleWindow

ALL_DESKTOPS = 0xFFFFFFFF
ICONIC_STATE = 3
MAX_CLIENTS = 4096  # longs read from the client list
MAX_TEXT = 1024  # longs (4 KiB) read of a title or class; a longer one is read again


class X11WindowLister:
    """``WindowLister`` for X11 with an EWMH window manager; reports every client window.

    Opens its own connection to ``display`` (default $DISPLAY) when created, so create it
    on the thread that will use it. Raises SourceUnavailable when the display cannot be
    opened; ``list_windows`` raises when the window manager publishes no client list.
    """

    complete = True

    def __init__(self, display: str | None = None) -> None:
        self.display_name = display
        self.x_errors = 0
        self._d: Any = None
        self._process_names: dict[tuple[int, int], str | None] = {}
        self._connect()

    def _connect(self) -> None:
        try:
            from Xlib import X, Xatom
            from Xlib import display as xdisplay
            from Xlib import error as xerror
        except ImportError:
            raise SourceUnavailable("screen", "python-xlib is not installed") from None
        try:
            d = xdisplay.Display(self.display_name)
        except (xerror.DisplayError, OSError) as exc:
            raise SourceUnavailable(
                "screen", f"cannot open the X display to list windows ({type(exc).__name__})"
            ) from None
        # Requests here all wait for a reply, which carries their error; anything else
        # arriving asynchronously is counted rather than printed to stderr.
        d.set_error_handler(self._on_async_error)
        self._d = d
        self._root = d.screen().root
        atom = d.intern_atom
        self._any = X.AnyPropertyType
        self._string = Xatom.STRING
        self.CLIENT_LIST_STACKING = atom("_NET_CLIENT_LIST_STACKING")
        self.CLIENT_LIST = atom("_NET_CLIENT_LIST")
        self.ACTIVE_WINDOW = atom("_NET_ACTIVE_WINDOW")
        self.CURRENT_DESKTOP = atom("_NET_CURRENT_DESKTOP")
        self.WM_STATE = atom("WM_STATE")
        self.NET_WM_STATE = atom("_NET_WM_STATE")
        self.HIDDEN = atom("_NET_WM_STATE_HIDDEN")
        self.SHADED = atom("_NET_WM_STATE_SHADED")
        self.WM_DESKTOP = atom("_NET_WM_DESKTOP")
        self.FRAME_EXTENTS = atom("_NET_FRAME_EXTENTS")
        self.NET_WM_NAME = atom("_NET_WM_NAME")
        self.NET_WM_PID = atom("_NET_WM_PID")
        self.WM_NAME = Xatom.WM_NAME
        self.WM_CLASS = Xatom.WM_CLASS

    def _on_async_error(self, *_args: Any) -> None:
        self.x_errors += 1

    def close(self) -> None:
        """Close the X connection."""
        d, self._d = self._d, None
        if d is not None:
            # Closing a connection the server already dropped may raise; nothing to do.
            with contextlib.suppress(Exception):
                d.close()

    def list_windows(self) -> list[VisibleWindow]:
        """The client windows visible now, bottom to top; raises if they cannot be listed.

        A lost connection is closed and opened again on the next call.
        """
        from Xlib import error as xerror

        if self._d is None:
            self._connect()
        try:
            return self._list()
        except (xerror.ConnectionClosedError, OSError):
            self.close()
            raise

    def _list(self) -> list[VisibleWindow]:
        root = self._root.id
        stacking, clients, active, desktop = self._replies(
            [
                self._get(root, self.CLIENT_LIST_STACKING, MAX_CLIENTS),
                self._get(root, self.CLIENT_LIST, MAX_CLIENTS),
                self._get(root, self.ACTIVE_WINDOW, 1),
                self._get(root, self.CURRENT_DESKTOP, 1),
            ]
        )
        ids = _cards(stacking) or _cards(clients)
        if not ids:
            if stacking.property_type or clients.property_type:
                return []  # a window manager with no client window yet
            raise RuntimeError("the window manager publishes no client list (EWMH)")
        active_id = next(iter(_cards(active)), None)
        current = next(iter(_cards(desktop)), None)
        batches = [(wid, self._ask(wid)) for wid in ids]
        seen: set[tuple[int, int]] = set()
        out = []
        for wid, requests in batches:
            window = self._read(wid, requests, active_id, current, seen)
            if window is not None:
                out.append(window)
        for key in set(self._process_names) - seen:
            del self._process_names[key]
        return out

    def _get(self, wid: int, prop: int, longs: int) -> Any:
        from Xlib.protocol import request

        return request.GetProperty(
            display=self._d.display,
            defer=True,
            delete=False,
            window=wid,
            property=prop,
            type=self._any,
            long_offset=0,
            long_length=longs,
        )

    def _ask(self, wid: int) -> list[Any]:
        # Sent now, read in _read: the order here is the order _read unpacks.
        from Xlib.protocol import request

        display = self._d.display
        return [
            request.GetGeometry(display=display, defer=True, drawable=wid),
            request.TranslateCoords(
                display=display, defer=True, src_wid=wid, dst_wid=self._root.id, src_x=0, src_y=0
            ),
            self._get(wid, self.NET_WM_STATE, 64),
            self._get(wid, self.WM_STATE, 2),
            self._get(wid, self.WM_DESKTOP, 1),
            self._get(wid, self.FRAME_EXTENTS, 4),
            self._get(wid, self.NET_WM_NAME, MAX_TEXT),
            self._get(wid, self.WM_NAME, MAX_TEXT),
            self._get(wid, self.WM_CLASS, MAX_TEXT),
            self._get(wid, self.NET_WM_PID, 1),
        ]

    @staticmethod
    def _replies(requests: list[Any]) -> list[Any]:
        for r in requests:
            r.reply()  # raises the request's X error, if it had one
        return requests

    def _read(
        self,
        wid: int,
        requests: list[Any],
        active: int | None,
        current: int | None,
        seen: set[tuple[int, int]],
    ) -> VisibleWindow | None:
        from Xlib import error as xerror

        try:
            (
                geometry,
                origin,
                net_state,
                wm_state,
                desktop,
                extents,
                net_name,
                wm_name,
                wm_class,
                pid_prop,
            ) = self._replies(requests)
        except (xerror.BadWindow, xerror.BadDrawable):
            self.x_errors += 1
            return None  # closed while we asked: no longer on the screen
        states = set(_cards(net_state))
        shaded = self.SHADED in states
        iconic = next(iter(_cards(wm_state)), None) == ICONIC_STATE
        if (self.HIDDEN in states or iconic) and not shaded:
            return None
        on = next(iter(_cards(desktop)), None)
        if current is not None and on is not None and on not in (current, ALL_DESKTOPS):
            return None
        title = self._text(wid, self.NET_WM_NAME, net_name) or self._text(
            wid, self.WM_NAME, wm_name
        )
        pid = next(iter(_cards(pid_prop)), None)
        return VisibleWindow(
            title=title,
            app=_class_name(self._text(wid, self.WM_CLASS, wm_class, whole=True)),
            process=self._process(wid, pid, seen),
            geometry=_outer(geometry, origin, _cards(extents)),
            focused=wid == active,
        )

    def _text(self, wid: int, prop: int, reply: Any, whole: bool = False) -> str:
        # A text property's value up to its first NUL (all of it when ``whole``).
        if not reply.property_type:
            return ""
        fmt, data = reply.value
        if fmt != 8:
            return ""
        if reply.bytes_after:  # longer than MAX_TEXT longs: read the whole property
            window = self._d.create_resource_object("window", wid)
            full = window.get_full_property(prop, self._any, sizehint=2 * MAX_TEXT)
            data = full.value if full is not None else data
        raw = bytes(data) if whole else bytes(data).split(b"\0", 1)[0]
        # _NET_WM_NAME should be UTF8_STRING but some clients (xdotool) write STRING;
        # COMPOUND_TEXT and other encodings: best effort.
        encoding = "latin-1" if reply.property_type == self._string else "utf-8"
        return raw.decode(encoding, "replace")

    def _process(self, wid: int, pid: int | None, seen: set[tuple[int, int]]) -> str | None:
        if pid is None:
            return None
        key = (wid, pid)
        seen.add(key)
        if key not in self._process_names:
            # A window's pid never changes and its process outlives it: read /proc once.
            self._process_names[key] = process_name(pid)
        return self._process_names[key]


def _cards(reply: Any) -> list[int]:
    """The 32-bit values of a property reply (empty when it is missing or not 32-bit)."""
    if not reply.property_type:
        return []
    fmt, data = reply.value
    return [int(v) for v in data] if fmt == 32 else []


def _class_name(wm_class: str) -> str:
    """The class part of WM_CLASS ("instance\\0Class\\0"), as window_x11 reports ``app``."""
    parts = wm_class.split("\0")
    return parts[1] if len(parts) > 1 else ""


def _outer(geometry: Any, origin: Any, extents: list[int]) -> Rect | None:
    """The outer rectangle on the root: the client, its border, then the frame extents."""
    if len(extents) != 4 or not origin.same_screen:
        return None
    left, right, top, bottom = extents
    border = int(geometry.border_width)
    return Rect(
        x=int(origin.x) - border - left,
        y=int(origin.y) - border - top,
        width=int(geometry.width) + 2 * border + left + right,
        height=int(geometry.height) + 2 * border + top + bottom,
    )
