"""Shared fixtures: a real X server (Xvfb + openbox) and xterm windows on it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.xserver import X11_MARK_ENV, XServer, start_xserver

THREAD_GRACE = 10.0
"""Seconds a thread the test started may take to end after the test (stop() may only signal)."""


X_FIXTURES = frozenset({"x_server", "x_display", "xterm"})
"""Fixtures that start (or stand on) the session's Xvfb."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse the run if a test uses an X fixture without the ``x11`` marker.

    ``pytest -m "not x11"`` must run with no X server; an unmarked test would start one.
    Tests that call ``start_xserver`` themselves are caught when they run (X11_MARK_ENV).
    """
    unmarked = [
        item.nodeid
        for item in items
        if X_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("x11") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests using an X server must be marked x11: " + ", ".join(unmarked)
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Tell start_xserver (here and in children) whether the running test is marked x11."""
    saved = os.environ.get(X11_MARK_ENV)
    os.environ[X11_MARK_ENV] = "1" if item.get_closest_marker("x11") else "0"
    try:
        return (yield)
    finally:
        if saved is None:
            os.environ.pop(X11_MARK_ENV, None)
        else:
            os.environ[X11_MARK_ENV] = saved


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a non-daemon thread it started running.

    Such a thread keeps the interpreter (and `make test`) from exiting and carries its
    test's work into the next test. Threads that end within THREAD_GRACE seconds of the
    test (a source told to stop that is finishing its last read) are not leaks.
    """
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and not t.daemon and t.is_alive()]
    deadline = time.monotonic() + THREAD_GRACE
    for thread in leaked:
        thread.join(max(0.0, deadline - time.monotonic()))
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"the test left non-daemon threads running: {still}"


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
        return x_server.window_named(f"^{title}$", timeout=15)

    yield open_xterm
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except Exception:
            proc.kill()
