"""The polling window-source loop shared by the macOS and Windows backends."""

from __future__ import annotations

import os

import pytest

from capture.errors import SourceUnavailable
from capture.events import Event, Window
from capture.window.info import FocusInfo
from capture.window.macos import MacWindowSource
from capture.window.poll import PollingWindowSource
from capture.window.windows import WindowsWindowSource


class ScriptedFocus(PollingWindowSource):
    """Reads focus from a list; an Exception item simulates a failing OS call."""

    def __init__(self, script: list[FocusInfo | Exception | None]) -> None:
        super().__init__(poll_interval=0.01)
        self.script = script

    def read_focus(self) -> FocusInfo | None:
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def test_emits_on_change_only_and_survives_errors() -> None:
    mine = FocusInfo(title="Editor", app="Code", pid=os.getpid(), x=0, y=0, width=10, height=10)
    source = ScriptedFocus([mine, mine, OSError("gone"), None, mine])
    out: list[Event] = []
    for _ in range(5):
        source.poll_once(out.append)
    windows = [e for e in out if isinstance(e, Window)]
    assert [(w.title, w.app) for w in windows] == [("Editor", "Code"), ("", ""), ("Editor", "Code")]
    assert windows[0].process and windows[0].pid == os.getpid()
    assert source.read_errors == 1


def test_other_platform_backends_refuse_to_start_here() -> None:
    for source in (MacWindowSource(), WindowsWindowSource()):
        with pytest.raises(SourceUnavailable, match="runs only on"):
            source.start(lambda event: None)
