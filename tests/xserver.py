"""A real, private X server for tests: Xvfb plus the openbox window manager.

Xvfb picks a free display number itself (``-displayfd``) so parallel test runs never
collide, listens on no TCP port, and is stopped (then killed if it lingers) together
with the window manager. A missing tool is an error, never a skip: the X11 tests are
the proof that capture works.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO

from capture.screen.damage import X11Damage
from tests.waiting import wait_for

REQUIRED_TOOLS = ("Xvfb", "openbox", "xdotool", "xterm", "xprop")

X11_MARK_ENV = "CAPTURE_AGENT_TEST_MARKED_X11"
"""Set by tests/conftest.py while a test runs: "1" if it is marked ``x11``, "0" if not.

An environment variable, so a benchmark or CLI the test runs as a child is held to the
same rule; unset outside pytest (``make bench`` starts its Xvfb freely).
"""


class XServerError(RuntimeError):
    """The test X server could not be started."""


def require_tools(tools: tuple[str, ...] = REQUIRED_TOOLS) -> None:
    """Raise XServerError naming every missing tool and the package that provides it."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise XServerError(
            f"missing X11 test tools: {', '.join(missing)} "
            "(Debian/Ubuntu: apt-get install xvfb openbox xdotool xterm x11-utils; xrandr: "
            "x11-xserver-utils)"
        )


@dataclass
class XServer:
    """A running Xvfb (+ openbox); ``display`` is the DISPLAY string, e.g. ":7"."""

    display: str
    width: int
    height: int
    xvfb: subprocess.Popen[bytes]
    wm: subprocess.Popen[bytes] | None = None
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    monitors: int = 1
    """RandR monitors side by side across ``width`` (each ``width // monitors`` wide)."""

    @property
    def env(self) -> dict[str, str]:
        """The environment for a client of this server."""
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def run(self, *args: str, timeout: float = 10.0) -> str:
        """Run an X client to completion on this display; return its stdout."""
        done = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise XServerError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def window_named(self, pattern: str, timeout: float = 30.0) -> str:
        """The id of the first window whose name matches ``pattern`` (xdotool's regex),
        once there is one. Polled without ``--sync``: while other clients open and close
        windows, a search can fail with BadWindow (a window it listed was gone before
        its name was read), which ``--sync`` turns into a failed test."""

        def found() -> str | None:
            try:
                ids = self.run("xdotool", "search", "--name", pattern, timeout=30).split()
            except XServerError:
                return None
            return ids[0] if ids else None

        window: str = wait_for(found, f"a window named {pattern!r}", timeout=timeout)
        return window

    def active_window(self) -> str | None:
        """The focused window's id, or None while the window manager names none (between
        one window closing and the next taking the focus, xdotool fails to read it)."""
        try:
            ids = self.run("xdotool", "getactivewindow", timeout=30).split()
        except XServerError:
            return None
        return ids[0] if ids else None

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start an X client in the background (``env`` added to the server's); it is
        stopped with the server."""
        proc = subprocess.Popen(
            args,
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.children.append(proc)
        return proc

    def stop(self) -> None:
        """Stop every client, the window manager and the server; never hangs."""
        for proc in [*self.children, *([self.wm] if self.wm else []), self.xvfb]:
            _terminate(proc)
        self.children.clear()


def start_xserver(
    width: int = 1280,
    height: int = 800,
    depth: int = 24,
    window_manager: bool = True,
    extra_args: tuple[str, ...] = (),
    monitors: int = 1,
) -> XServer:
    """Start Xvfb on a free display (and openbox), wait until both are ready.

    ``extra_args`` go to Xvfb (e.g. ``("-br",)`` for a black root window). ``monitors``
    > 1: ``width`` is split into that many RandR monitors side by side (xrandr
    --setmonitor), as a docked laptop's desktop; Xvfb's Xinerama would stack its screens
    at one origin, and mss (like the agent) lists RandR 1.5 monitors. Refuses to
    start for a test not marked ``x11``: ``pytest -m "not x11"`` must need no X server.
    """
    if os.environ.get(X11_MARK_ENV) == "0":
        test = os.environ.get("PYTEST_CURRENT_TEST", "this test").rsplit(" ", 1)[0]
        raise XServerError(f"{test} starts Xvfb but is not marked x11 (add @pytest.mark.x11)")
    require_tools(REQUIRED_TOOLS + (("xrandr",) if monitors > 1 else ()))
    read_fd, write_fd = os.pipe()
    # A file, not a pipe, for Xvfb's stderr: Xvfb must never block on it; closed below.
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{width}x{height}x{depth}",
                "-nolisten",
                "tcp",
                "-noreset",
                *extra_args,
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        os.close(write_fd)
        write_fd = -1
        number = _read_display_number(read_fd, xvfb, errors, timeout=15.0)
    finally:
        errors.close()
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    server = XServer(display=f":{number}", width=width, height=height, xvfb=xvfb)
    if monitors > 1:
        try:
            _split_monitors(server, monitors)
        except BaseException:
            server.stop()
            raise
    if window_manager:
        try:
            server.wm = subprocess.Popen(
                ["openbox", "--sm-disable"],
                env=server.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _wait_for_wm(server, timeout=15.0)
        except BaseException:
            server.stop()
            raise
    return server


def _read_display_number(
    fd: int, xvfb: subprocess.Popen[bytes], errors: IO[bytes], timeout: float
) -> int:
    # Xvfb writes the display number and a newline once it accepts connections.
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or xvfb.poll() is not None:
            _terminate(xvfb)
            errors.seek(0)
            err = errors.read().decode(errors="replace")
            raise XServerError(f"Xvfb did not start: {err.strip()[-500:]}")
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                continue
            data += chunk
    return int(data.strip())


def _split_monitors(server: XServer, monitors: int) -> None:
    # The first monitor takes over Xvfb's one output (so it no longer spans the whole
    # framebuffer), the others have none: RandR then lists exactly these monitors.
    each = server.width // monitors
    for i in range(monitors):
        geometry = f"{each}/{each * 254 // 960}x{server.height}/{server.height * 254 // 960}"
        server.run(
            "xrandr",
            "--setmonitor",
            f"bench-{i}",
            f"{geometry}+{i * each}+0",
            "screen" if i == 0 else "none",
        )
    listed = server.run("xrandr", "--listmonitors").splitlines()[0]
    if listed.strip() != f"Monitors: {monitors}":
        raise XServerError(f"xrandr did not make {monitors} monitors: {listed.strip()}")
    server.monitors = monitors


def _wait_for_wm(server: XServer, timeout: float) -> None:
    # openbox is ready once it has set _NET_SUPPORTING_WM_CHECK on the root window.

    def ready() -> bool:
        if server.wm is not None and server.wm.poll() is not None:
            raise XServerError("openbox exited during start-up")
        out = subprocess.run(
            ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"],
            env=server.env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return "window id" in out

    try:
        wait_for(ready, "openbox to become ready", timeout=timeout)
    except AssertionError as exc:
        raise XServerError(str(exc)) from None


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5.0)


def wait_drawn_out(damage: X11Damage, quiet: float = 0.3) -> None:
    """Wait until ``damage`` has seen nothing drawn on the screen for ``quiet`` seconds.

    A new xterm draws again when the window manager focuses it, and on a busy machine
    that comes late: each draw restarts the wait. A connection opened just now has seen
    nothing yet, so the quiet is counted from when the wait began at the earliest.
    """
    began = time.monotonic()

    def still() -> bool:
        damage.drawn_since(time.monotonic())  # reads every draw so far: last_draw follows
        return time.monotonic() - max(damage.last_draw, began) >= quiet

    wait_for(still, "the screen to stop changing")
