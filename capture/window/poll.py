"""A window-focus source that polls (``capture.polling``): the macOS and Windows backends."""

from __future__ import annotations

from dataclasses import replace

from capture.events import Emit, Window
from capture.polling import ChangePoller
from capture.window.browser_url import tabs
from capture.window.info import NO_FOCUS, FocusInfo, window_event


class PollingWindowSource(ChangePoller[FocusInfo]):
    """Base of polling window sources: subclasses implement ``read_focus``."""

    name = "window"

    def __init__(self, poll_interval: float = 0.5) -> None:
        super().__init__(poll_interval)

    def read_focus(self) -> FocusInfo | None:
        """The focused window now, or None when nothing has focus."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise SourceUnavailable if this backend cannot run here (called by start)."""

    def start(self, emit: Emit) -> None:
        """Start polling; the current focus is emitted at once."""
        if self.running:
            return
        self.check()
        self.start_polling(emit)

    def read(self) -> FocusInfo:
        """The focus now, with the browser tab's URL when the extension reported it;
        nothing focused is an empty title and app."""
        focus = self.read_focus() or NO_FOCUS
        url = tabs().url_for(focus.title)
        return replace(focus, url=url) if url else focus

    def event_for(self, value: FocusInfo) -> Window:
        """The ``Window`` event for a focus change."""
        return window_event(value)
