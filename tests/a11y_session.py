"""A private D-Bus session with the AT-SPI accessibility bus, for tests on the test X server.

``dbus-daemon --session`` runs as our child with its own XDG_RUNTIME_DIR, so the
accessibility bus it starts on demand (at-spi-bus-launcher, through org.a11y.Bus
activation; the registry daemon in turn) never meets the desktop's. Stopping the session
bus makes the launcher, its bus and the registry exit. A missing tool is an error naming
the package, never a skip.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import wait_for

A11Y_SERVICE = Path("/usr/share/dbus-1/services/org.a11y.Bus.service")
REGISTRY_CALL_TIMEOUT = 5.0


class A11ySessionError(RuntimeError):
    """The D-Bus session or the accessibility bus could not be started."""


def require_a11y_tools() -> None:
    """Raise A11ySessionError naming every missing tool and the package that provides it."""
    missing = []
    if shutil.which("dbus-daemon") is None:
        missing.append("dbus-daemon (package dbus)")
    if not A11Y_SERVICE.exists():
        missing.append(f"{A11Y_SERVICE} (package at-spi2-core)")
    if shutil.which("zenity") is None:
        missing.append("zenity (package zenity)")
    if missing:
        raise A11ySessionError(
            f"missing accessibility test tools: {', '.join(missing)} "
            "(Debian/Ubuntu: apt-get install dbus at-spi2-core zenity)"
        )


@dataclass
class A11ySession:
    """A running private session bus; ``env`` is for its clients on ``display``."""

    address: str
    runtime_dir: Path
    display: str
    proc: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        """The environment of a client of this session (and of the X server)."""
        env = dict(
            os.environ,
            DBUS_SESSION_BUS_ADDRESS=self.address,
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            DISPLAY=self.display,
        )
        env.pop("AT_SPI_BUS_ADDRESS", None)
        env.pop("NO_AT_BRIDGE", None)
        env.pop("WAYLAND_DISPLAY", None)
        return env

    def wait_for_listener(self, event: str, timeout: float = 20.0) -> None:
        """Wait until some client registered ``event`` with the AT-SPI registry."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        from capture.secure_input.atspi import atspi_bus_address

        address = atspi_bus_address(self.env)
        registry = DBusAddress(
            "/org/a11y/atspi/registry",
            bus_name="org.a11y.atspi.Registry",
            interface="org.a11y.atspi.Registry",
        )
        with open_dbus_connection(bus=address) as conn:

            def registered() -> bool:
                reply = conn.send_and_get_reply(
                    new_method_call(registry, "GetRegisteredEvents"), timeout=REGISTRY_CALL_TIMEOUT
                )
                return any(_canonical(name) == _canonical(event) for _bus, name in reply.body[0])

            try:
                wait_for(registered, f"a client to register {event!r}", timeout=timeout)
            except AssertionError as exc:
                raise A11ySessionError(f"AT-SPI registry: {exc}") from None

    def stop(self) -> None:
        """Stop the session bus (the accessibility bus and the registry follow)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5.0)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _canonical(event: str) -> str:
    # The registry stores "object:state-changed:focused" as "Object:StateChanged:Focused".
    return event.lower().replace("-", "").rstrip(":")


def start_a11y_session(runtime_dir: Path, display: str) -> A11ySession:
    """Start a private session bus whose accessibility bus serves ``display``."""
    require_a11y_tools()
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir), DISPLAY=display)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 15.0)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise A11ySessionError("dbus-daemon --session printed no address")
    return A11ySession(address=line, runtime_dir=runtime_dir, display=display, proc=proc)
