"""Shared fixtures: a real X server (Xvfb + openbox) and xterm windows on it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.xserver import XServer, start_xserver


@pytest.fixture(scope="session")
def x_server() -> Iterator[XServer]:
    """One Xvfb + openbox for the session; DISPLAY points at it while it runs.

    Fails (never skips) when Xvfb, openbox, xdotool, xterm or xprop is missing.
    """
    server = start_xserver(width=1280, height=800)
    saved = {name: os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")}
    os.environ["DISPLAY"] = server.display
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        yield server
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def x_display(x_server: XServer) -> str:
    """The DISPLAY string of the test X server (also set in os.environ)."""
    return x_server.display


XTerm = Callable[[str], str]
"""Opens an xterm with the given title; returns its X window id (decimal string)."""


@pytest.fixture
def xterm(x_server: XServer) -> Iterator[XTerm]:
    """Factory opening xterm windows with a given title; they are closed after the test."""
    procs = []

    def open_xterm(title: str) -> str:
        procs.append(x_server.spawn("xterm", "-T", title, "-geometry", "60x15+40+40"))
        out = x_server.run("xdotool", "search", "--sync", "--name", f"^{title}$", timeout=15)
        return out.split()[0]

    yield open_xterm
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except Exception:
            proc.kill()
