"""The reference X11 scene and its driver: Xvfb 1920x1080, openbox, three xterms, xdotool.

One long-running ``xdotool -`` reads commands from a pipe (a process per pointer move
would cost more CPU than the agent being measured). The script is seeded, so every run
replays the same activity: smooth pointer paths at 100 Hz, clicks, typing at human
speed (about 9 characters a second), wheel scrolling, window switches and idle gaps.
The driver counts what it generates, event by event type, as the agent should see it.
"""

from __future__ import annotations

import contextlib
import math
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.xserver import XServer, start_xserver

WIDTH, HEIGHT = 1920, 1080
"""The reference screen; a larger one (``start_scene``'s size) scales the scene to it."""
MOVE_HZ = 100.0
TYPE_DELAY_MS = 110
PHRASES = (
    "the quarterly numbers are in the shared folder",
    "please review the draft before friday",
    "meeting moved to three, room four",
    "ls -la and then grep for the error",
    "thanks, looks good to me",
    "deploy after the tests pass",
)
# (geometry in characters, position) of the terminals; the first holds scrollback.
TERMINALS = (
    ("150x40+10+10", "sh -c 'seq 1 5000; exec cat'"),
    ("120x35+960+60", "cat"),
    ("110x30+400+560", "cat"),
)
# What the second and third terminals show at the start of a "filled" scene: the lines
# they would hold after a few minutes of the workload (each typed phrase, echoed by cat).
_FILL = (
    "sh",
    "-c",
    "for i in 1 2 3 4 5 6 7 8; do printf '%s\\n' "
    + " ".join(f"'{p}' '{p}'" for p in PHRASES)
    + "; done; exec cat",
)


@dataclass
class Scene:
    """A running X server with terminals and an xdotool driver."""

    server: XServer
    windows: list[str]
    driver: subprocess.Popen[str]
    generated: Counter[str] = field(default_factory=Counter)
    x: int = WIDTH // 2
    y: int = HEIGHT // 2
    width: int = WIDTH
    height: int = HEIGHT
    before_action: Callable[[], None] | None = None
    """Called just before each action the workload drives (a click's press, a line's
    first key, Enter, a scroll's first wheel step): ``bench.observation_pixels`` grabs
    the screen there."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a client of the scene's display."""
        return self.server.env

    def act(self) -> None:
        """An action is about to be driven: run ``before_action``, if any."""
        if self.before_action is not None:
            self.before_action()

    def send(self, command: str) -> None:
        """Write one xdotool command line."""
        assert self.driver.stdin is not None
        with self._lock:
            self.driver.stdin.write(command + "\n")
            self.driver.stdin.flush()

    def move(self, x: int, y: int) -> None:
        """Move the pointer (one mouse_move if the position changes)."""
        x, y = max(0, min(self.width - 1, x)), max(0, min(self.height - 1, y))
        if (x, y) != (self.x, self.y):
            self.generated["mouse_move"] += 1
        self.x, self.y = x, y
        self.send(f"mousemove {x} {y}")

    def path(self, x: int, y: int, seconds: float, stop: threading.Event | None = None) -> None:
        """Move smoothly (ease in and out) to (x, y) at 100 Hz."""
        x0, y0 = self.x, self.y
        steps = max(1, int(seconds * MOVE_HZ))
        start = time.monotonic()
        for i in range(1, steps + 1):
            if stop is not None and stop.is_set():
                return
            f = (1 - math.cos(math.pi * i / steps)) / 2
            self.move(round(x0 + (x - x0) * f), round(y0 + (y - y0) * f))
            _sleep_until(start + i / MOVE_HZ)

    def click(self, button: int = 1, hold: float = 0.0) -> None:
        """Press and release a button at the current position, ``hold`` seconds apart
        (a person holds a click 80-120 ms; a wheel step has no hold)."""
        if hold > 0:
            self.send(f"mousedown {button}")
            time.sleep(hold)
            self.send(f"mouseup {button}")
        else:
            self.send(f"click {button}")
        if button in (4, 5):
            self.generated["scroll"] += 1  # pynput reports the press as one wheel step
        else:
            self.generated["mouse_button"] += 2

    def type_text(self, text: str) -> float:
        """Type ``text`` at human speed; returns the seconds xdotool will take."""
        self.send(f"type --delay {TYPE_DELAY_MS} '{text}'")
        self.generated["key"] += 2 * len(text)
        return len(text) * TYPE_DELAY_MS / 1000.0

    def key(self, name: str) -> None:
        """Press and release one key (e.g. Return)."""
        self.send(f"key {name}")
        self.generated["key"] += 2

    def activate(self, window: str) -> None:
        """Raise and focus a window (a window event for the agent). ``--sync``: without
        it xdotool's script mode activates the window only with the next command (the
        typing that follows, 0.3 s later), measured."""
        self.send(f"windowactivate --sync {window}")
        self.generated["window_switch"] += 1

    def stop(self) -> None:
        """End the driver, the terminals and the server."""
        if self.driver.stdin is not None:
            with contextlib.suppress(OSError):
                self.driver.stdin.close()
        try:
            self.driver.wait(5)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        self.server.stop()


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def start_scene(
    filled: bool = False, width: int = WIDTH, height: int = HEIGHT, monitors: int = 1
) -> Scene:
    """Start Xvfb (1920x1080 unless told) with openbox, three xterms and the xdotool driver.

    ``filled``: every terminal starts full of text, as after a while of the workload, so
    that every line typed scrolls a whole terminal (the steady state of a long run).
    ``width`` x ``height`` is the whole desktop, split into ``monitors`` side by side;
    the terminals' places and sizes scale with it (they cover the same share of a larger
    screen, and spread over both monitors), so the reference scene is the 1920x1080 one.
    """
    server = start_xserver(width, height, monitors=monitors)
    try:
        for i, (geometry, command) in enumerate(TERMINALS):
            argv = _FILL if filled and i > 0 else (command,)
            scaled = _scaled(geometry, width / WIDTH, height / HEIGHT)
            server.spawn("xterm", "-sl", "5000", "-geometry", scaled, "-e", *argv)
        windows: list[str] = []
        deadline = time.monotonic() + 20
        while len(windows) < len(TERMINALS) and time.monotonic() < deadline:
            time.sleep(0.2)
            out = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--class", "xterm"],
                env=server.env,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            windows = out.split()
        if len(windows) < len(TERMINALS):
            raise RuntimeError("the xterms did not appear")
        driver = subprocess.Popen(
            ["xdotool", "-"],
            stdin=subprocess.PIPE,
            env=server.env,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except BaseException:
        server.stop()
        raise
    scene = Scene(server, windows, driver, x=width // 2, y=height // 2, width=width, height=height)
    scene.send(f"mousemove {scene.x} {scene.y}")
    return scene


def _scaled(geometry: str, sx: float, sy: float) -> str:
    """An xterm geometry (``COLSxROWS+X+Y``) scaled by the screen's size against 1920x1080."""
    size, x, y = geometry.split("+")
    cols, rows = size.split("x")
    return (
        f"{round(int(cols) * sx)}x{round(int(rows) * sy)}+{round(int(x) * sx)}+{round(int(y) * sy)}"
    )


def wiggle(scene: Scene, stop: threading.Event) -> None:
    """Small pointer circles at 100 Hz until ``stop`` (start-up and pause probes)."""
    cx, cy = scene.x, scene.y
    start, i = time.monotonic(), 0
    while not stop.is_set():
        i += 1
        angle = i / 10.0
        scene.move(round(cx + 30 * math.cos(angle)), round(cy + 30 * math.sin(angle)))
        _sleep_until(start + i / MOVE_HZ)


def workload(scene: Scene, seconds: float, seed: int = 7) -> None:
    """The reference activity for ``seconds``: paths, clicks, typing, scrolling, switches."""
    rng = random.Random(seed)
    # How long each click is held, from a generator of its own: the script (and so every
    # other figure's workload) is the one it was with zero-length clicks.
    holds = random.Random(seed + 1)
    # The same script on any screen: the reference's coordinates, scaled to this one.
    width, height = scene.width, scene.height
    sx, sy = width / WIDTH, height / HEIGHT
    end = time.monotonic() + seconds
    step = 0
    while time.monotonic() < end:
        step += 1
        roll = rng.random()
        target = rng.choice(scene.windows)
        if roll < 0.45:  # a path and a click
            scene.path(
                round(rng.randint(50, WIDTH - 50) * sx),
                round(rng.randint(50, HEIGHT - 50) * sy),
                rng.uniform(0.3, 1.2),
            )
            hold = 0.0
            if rng.random() < 0.6:
                hold = holds.uniform(0.08, 0.12)
                scene.act()
                scene.click(1, hold)
            time.sleep(max(0.0, rng.uniform(0.1, 0.6) - hold))
        elif roll < 0.62:  # focus a terminal and type a line
            scene.activate(target)
            time.sleep(0.3)
            scene.act()
            took = scene.type_text(rng.choice(PHRASES))
            time.sleep(took + 0.1)
            scene.act()
            scene.key("Return")
            time.sleep(rng.uniform(0.3, 1.0))
        elif roll < 0.77:  # scroll the scrollback
            scene.path(
                round((300 + rng.randint(0, 400)) * sx),
                round((200 + rng.randint(0, 300)) * sy),
                0.4,
            )
            for i in range(rng.randint(5, 15)):
                if i == 0:  # the steps that follow are the same scroll action
                    scene.act()
                scene.click(rng.choice((4, 4, 5)))
                time.sleep(0.08)
            time.sleep(0.3)
        elif roll < 0.9:  # switch windows
            scene.activate(target)
            time.sleep(rng.uniform(0.5, 1.5))
        else:  # an idle gap
            time.sleep(min(rng.uniform(2.0, 5.0), max(0.0, end - time.monotonic())))
