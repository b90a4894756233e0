"""The windows visible on the screen, as plain values, for masking frames.

A ``WindowLister`` reports every window a screenshot may show (any monitor, focused or
not) as ``VisibleWindow`` values; ``privacy.masking`` decides which to paint over. One
lister belongs to one thread (the screen thread creates it, uses it once per frame and
closes it). Backends: ``capture.window.visible_x11`` (X11 with an EWMH window manager) and
``FocusOnlyLister`` (macOS, Windows: only the focused window is known, see below).
``StaticWindowLister`` is the fake for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from capture.window.info import FocusInfo, process_name


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in virtual-screen coordinates (may be partly off screen)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class VisibleWindow:
    """A window mapped on the screen, as the capture backend enumerates it.

    ``geometry`` is the window's outer rectangle including decorations, or None when the
    backend could not tell; ``focused`` is True for the window with the input focus.
    """

    title: str
    app: str
    process: str | None = None
    geometry: Rect | None = None
    focused: bool = False


class WindowLister(Protocol):
    """Lists the windows visible now; used by one thread only."""

    complete: bool
    """False when unfocused windows are not reported (they cannot be masked)."""

    def list_windows(self) -> list[VisibleWindow]:
        """The visible windows now; raises when they cannot be listed (drop the frame)."""
        ...

    def close(self) -> None:
        """Release the connection to the window system."""
        ...


class StaticWindowLister:
    """A ``WindowLister`` reporting ``windows`` (change it at will); for tests."""

    complete = True

    def __init__(self, windows: Sequence[VisibleWindow] = ()) -> None:
        self.windows = list(windows)
        self.error: Exception | None = None
        self.calls = 0
        self.closed = False

    def list_windows(self) -> list[VisibleWindow]:
        """``windows``, or raise ``error`` when it is set."""
        self.calls += 1
        if self.error is not None:
            raise self.error
        return list(self.windows)

    def close(self) -> None:
        """Remember that it was closed."""
        self.closed = True


class FocusOnlyLister:
    """A ``WindowLister`` that knows only the focused window (``complete`` is False).

    For macOS and Windows, where listing every window is not implemented yet: a frame
    grabbed while a denied window has the focus is still dropped at grab time (not only
    once the window source's next poll reaches the privacy chain), but denied windows
    that are visible without the focus are not masked. ``read_focus`` is a window
    backend's (``PollingWindowSource.read_focus``).
    """

    complete = False

    def __init__(self, read_focus: Callable[[], FocusInfo | None]) -> None:
        self._read_focus = read_focus

    def list_windows(self) -> list[VisibleWindow]:
        """The focused window, or nothing when no window has the focus."""
        focus = self._read_focus()
        if focus is None:
            return []
        geometry = None
        if (
            focus.x is not None
            and focus.y is not None
            and focus.width is not None
            and focus.height is not None
        ):
            geometry = Rect(focus.x, focus.y, focus.width, focus.height)
        return [
            VisibleWindow(focus.title, focus.app, process_name(focus.pid), geometry, focused=True)
        ]

    def close(self) -> None:
        """Nothing to release."""
