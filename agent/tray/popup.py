"""A small popup menu drawn with python-xlib, for pystray's Xorg backend.

pystray's Xorg backend (the one plain XEmbed tray hosts such as trayer, stalonetray or
tint2 dock) has no menu, and its icon window does not even ask the X server for clicks
(pystray issue #151). The tray asks for clicks itself and opens this menu on one: an
override-redirect window at the pointer, one row per entry, that grabs the pointer like
any menu does, so a click outside it (or Escape) closes it.

Entries with children (the "Opt out…" confirmation) replace the rows with a heading,
the children and "Cancel". Rows are ``ROW_HEIGHT`` pixels tall, top to bottom, in the
order of the entries; the window is named ``WINDOW_NAME`` (tests find it by name).
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from agent.tray.app import Action, Entry

log = logging.getLogger(__name__)

WINDOW_NAME = "capture-agent menu"
ROW_HEIGHT = 26
PAD = 12
MIN_WIDTH = 260
GRAB_TRIES_SECONDS = 2.0

BACKGROUND = (246, 246, 246)
HOVER = (200, 222, 255)
HEADING_BACKGROUND = (228, 228, 228)
BORDER = (140, 140, 140)
TEXT = (20, 20, 20)
DISABLED = (165, 165, 165)


def submenu_rows(parent: Entry) -> list[Entry]:
    """The rows shown once ``parent`` (an entry with children) is chosen."""
    return [Entry(parent.label.rstrip("…"), None, enabled=False), *parent.children, Entry("Cancel")]


class PopupMenu:
    """Opens the menu in its own thread with its own X connection; one at a time."""

    def __init__(
        self, entries: Callable[[], list[Entry]], choose: Callable[[Action], None]
    ) -> None:
        self._entries = entries
        self._choose = choose
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._close = threading.Event()

    def toggle(self) -> None:
        """Open the menu at the pointer, or close it if it is open."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._close.set()
                return
            self._close.clear()
            self._thread = threading.Thread(target=self._run, name="tray-menu", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Close the menu if it is open and wait for it."""
        self._close.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def _run(self) -> None:
        import Xlib.display
        import Xlib.error

        try:
            display = Xlib.display.Display()
        except Exception as exc:  # no display after all: nothing to show, say why once
            log.error("tray menu: cannot open the display (%s)", exc)
            return
        try:
            _MenuWindow(display, self._entries(), self._close).run(self._chosen)
        except Xlib.error.XError as exc:
            log.error("tray menu: X error (%s)", exc)
        finally:
            with contextlib.suppress(Exception):
                display.close()
            with self._lock:  # closed: the next click opens a new menu
                self._thread = None

    def _chosen(self, action: Action) -> None:
        try:
            self._choose(action)
        except Exception as exc:  # the menu thread must end cleanly whatever happens
            log.error("tray menu: action %s failed (%s)", action.value, type(exc).__name__)


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=14)
    except (OSError, TypeError):
        return ImageFont.load_default()


class _MenuWindow:
    """One open menu: the window, its rows, the pointer grab and the event loop."""

    def __init__(self, display: Any, rows: list[Entry], close: threading.Event) -> None:
        self.display = display
        self.rows = rows
        self.close = close
        self.font = _font()
        self.hover: int | None = None
        self.pressed_inside = False
        screen = display.screen()
        self.root = screen.root
        self.screen_size = (screen.width_in_pixels, screen.height_in_pixels)
        pointer = self.root.query_pointer()
        self.x, self.y, self.width, self.height = self._place(pointer.root_x, pointer.root_y)
        from Xlib import X

        self.window = self.root.create_window(
            self.x,
            self.y,
            self.width,
            self.height,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            override_redirect=True,
            background_pixel=screen.white_pixel,
            event_mask=(
                X.ExposureMask
                | X.ButtonPressMask
                | X.ButtonReleaseMask
                | X.PointerMotionMask
                | X.KeyPressMask
                | X.StructureNotifyMask
            ),
        )
        self.window.set_wm_name(WINDOW_NAME)
        self.window.set_wm_class("capture-agent-menu", "capture-agent")
        self.gc = self.window.create_gc()

    def _place(self, px: int, py: int) -> tuple[int, int, int, int]:
        widest = max((self.font.getlength(e.label) for e in self.rows), default=0.0)
        width = max(MIN_WIDTH, int(widest) + 2 * PAD + 16)
        height = ROW_HEIGHT * len(self.rows)
        sw, sh = self.screen_size
        x = max(0, min(px, sw - width))
        y = py + 2 if py + 2 + height <= sh else max(0, py - height - 2)
        return x, y, width, height

    def run(self, choose: Callable[[Action], None]) -> None:
        """Show the menu until a choice, a click outside, Escape or ``close``."""
        from Xlib import XK, X

        self.window.map()
        self.display.flush()
        grabbed = self._grab()
        escape = self.display.keysym_to_keycode(XK.string_to_keysym("Escape"))
        chosen: Action | None = None
        try:
            while not self.close.is_set():
                if not self.display.pending_events():
                    select.select([self.display.fileno()], [], [], 0.2)
                    if not self.display.pending_events():
                        continue
                event = self.display.next_event()
                if event.type == X.Expose and event.count == 0:
                    self._draw()
                elif event.type == X.MotionNotify:
                    row = self._row_at(event.root_x, event.root_y)
                    if row != self.hover:
                        self.hover = row
                        self._draw()
                elif event.type == X.ButtonPress:
                    if self._row_at(event.root_x, event.root_y) is None:
                        return  # a click outside closes the menu
                    self.pressed_inside = True
                elif event.type == X.ButtonRelease and self.pressed_inside:
                    self.pressed_inside = False
                    row = self._row_at(event.root_x, event.root_y)
                    if row is None or not self.rows[row].enabled:
                        continue
                    entry = self.rows[row]
                    if entry.children:
                        self._show_rows(submenu_rows(entry))
                        continue
                    chosen = entry.action
                    return
                elif (
                    event.type == X.KeyPress and event.detail == escape
                ) or event.type == X.DestroyNotify:
                    return
        finally:
            if grabbed:
                self.display.ungrab_pointer(X.CurrentTime)
                self.display.ungrab_keyboard(X.CurrentTime)
            self.window.destroy()
            self.display.flush()
            if chosen is not None:
                choose(chosen)

    def _grab(self) -> bool:
        # The click that opened the menu may still hold the pointer (an implicit grab
        # until the button is released): try for a moment, as toolkits do.
        from Xlib import X

        deadline = time.monotonic() + GRAB_TRIES_SECONDS
        while time.monotonic() < deadline and not self.close.is_set():
            status = self.window.grab_pointer(
                False,
                X.ButtonPressMask | X.ButtonReleaseMask | X.PointerMotionMask,
                X.GrabModeAsync,
                X.GrabModeAsync,
                X.NONE,
                X.NONE,
                X.CurrentTime,
            )
            if status == X.GrabSuccess:
                self.window.grab_keyboard(False, X.GrabModeAsync, X.GrabModeAsync, X.CurrentTime)
                return True
            time.sleep(0.05)
        log.warning("tray menu: could not grab the pointer; click the icon again to close")
        return False

    def _row_at(self, root_x: int, root_y: int) -> int | None:
        x, y = root_x - self.x, root_y - self.y
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        return min(y // ROW_HEIGHT, len(self.rows) - 1)

    def _show_rows(self, rows: list[Entry]) -> None:
        self.rows = rows
        self.hover = None
        self.x, self.y, self.width, self.height = self._place(self.x, self.y - 2)
        self.window.configure(x=self.x, y=self.y, width=self.width, height=self.height)
        self._draw()

    def _draw(self) -> None:
        image = Image.new("RGB", (self.width, self.height), BACKGROUND)
        draw = ImageDraw.Draw(image)
        for i, entry in enumerate(self.rows):
            top = i * ROW_HEIGHT
            heading = entry.action is None and not entry.children and not entry.enabled
            if heading:
                draw.rectangle((0, top, self.width, top + ROW_HEIGHT - 1), fill=HEADING_BACKGROUND)
            elif i == self.hover and entry.enabled:
                draw.rectangle((0, top, self.width, top + ROW_HEIGHT - 1), fill=HOVER)
            colour = TEXT if entry.enabled or heading else DISABLED
            draw.text(
                (PAD, top + ROW_HEIGHT // 2), entry.label, fill=colour, font=self.font, anchor="lm"
            )
            if entry.children:
                draw.text(
                    (self.width - PAD, top + ROW_HEIGHT // 2),
                    "›",
                    fill=colour,
                    font=self.font,
                    anchor="rm",
                )
        draw.rectangle((0, 0, self.width - 1, self.height - 1), outline=BORDER)
        self.window.put_pil_image(self.gc, 0, 0, image)
        self.display.flush()
