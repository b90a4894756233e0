"""Password fields on Linux, through AT-SPI (the desktop's accessibility bus) with jeepney.

Toolkits that speak AT-SPI (GTK through at-spi2-atk, Qt, Firefox, Chromium with
accessibility on, LibreOffice) announce focus changes on the accessibility bus. The
source registers for ``object:state-changed:focused`` and ``window:deactivate``, asks
the newly focused object for its role, and is active while that role is
``ROLE_PASSWORD_TEXT``. On connecting it reads every application's cache once, so a
password field that already has focus (say, across a pause) is seen at once.

The bus is found through ``AT_SPI_BUS_ADDRESS`` or ``org.a11y.Bus.GetAddress`` on the
session bus. When neither works (no session bus, at-spi2-core not installed, a toolkit
with accessibility off) the source records why, logs it once, retries now and then,
and never stops the other sources. Only focus, roles and states are read: no names,
no text.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from capture.base import SourceBase
from capture.events import Emit
from capture.secure_input.common import SECURE_INPUT, report_unavailable, secure_input_marker

log = logging.getLogger(__name__)

ROLE_PASSWORD_TEXT = 40
"""AtspiRole of a text field whose characters are hidden."""
STATE_FOCUSED = 12
"""AtspiStateType bit set on the object that has keyboard focus."""

FOCUS_EVENT = "object:state-changed:focused"
DEACTIVATE_EVENT = "window:deactivate"
REGISTRY = "org.a11y.atspi.Registry"
DESKTOP_PATH = "/org/a11y/atspi/accessible/root"
CACHE_PATH = "/org/a11y/atspi/cache"


class AtspiUnavailable(Exception):
    """The accessibility bus cannot be reached or used; ``reason`` says why (no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AtspiSignal:
    """One accessibility event, reduced to what the focus tracker needs."""

    sender: str  # the application's unique bus name
    path: str  # the object's path in that application
    member: str  # "StateChanged" or "Deactivate"
    detail: str  # the state for StateChanged ("focused")
    detail1: int  # 1 when the state was gained, 0 when lost


class AtspiBus(Protocol):
    """A connection to the accessibility bus, registered for focus events."""

    def next_signal(self, timeout: float) -> AtspiSignal | None:
        """The next focus or deactivation event, or None after ``timeout`` seconds.

        Raises AtspiUnavailable when the connection is lost.
        """
        ...

    def role_of(self, sender: str, path: str) -> int | None:
        """The AtspiRole of an object, or None when it cannot be read (gone, too slow)."""
        ...

    def focused_password(self) -> bool:
        """Whether a password text has focus now, judged from every application's cache."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class FocusTracker:
    """Follows AT-SPI focus events: active while a password text has keyboard focus."""

    def __init__(self, role_of: Callable[[str, str], int | None]) -> None:
        self.role_of = role_of
        self.active = False
        self._focus: tuple[str, str] | None = None

    def reset(self, active: bool) -> None:
        """Start over from a known answer (after connecting)."""
        self.active = active
        self._focus = None

    def feed(self, signal: AtspiSignal) -> bool:
        """Take one event; return True when ``active`` changed."""
        before = self.active
        if signal.member == "StateChanged" and signal.detail == "focused":
            if signal.detail1:
                self._focus = (signal.sender, signal.path)
                role = self.role_of(signal.sender, signal.path)
                # An object that cannot say what it is may be a password field: fail
                # closed until the next focus change tells more.
                self.active = role is None or role == ROLE_PASSWORD_TEXT
            elif self._focus == (signal.sender, signal.path):
                self._focus = None
                self.active = False
        elif (
            signal.member == "Deactivate"
            and self._focus is not None
            and self._focus[0] == signal.sender
        ):
            # The window holding the focus went inactive: focus left the application.
            self._focus = None
            self.active = False
        return self.active != before


Connect = Callable[[], AtspiBus]


class AtspiSecureInput(SourceBase):
    """The "secure_input" source for Linux: AT-SPI focus on a password text."""

    name = SECURE_INPUT

    def __init__(
        self,
        connect: Connect | None = None,
        retry_interval: float = 30.0,
        receive_timeout: float = 0.25,
    ) -> None:
        self._connect: Connect = connect or connect_atspi
        self.retry_interval = retry_interval
        self.receive_timeout = receive_timeout
        self.unavailable: str | None = None
        """Why the accessibility bus cannot be used now (None while it is followed)."""
        self.connected = threading.Event()
        """Set while connected and following focus (for status and tests)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, emit: Emit) -> None:
        """Connect and follow focus on a thread; returns at once, never raises for the bus."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(emit,), name="secure-input-atspi", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop following focus, close the connection and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None

    def _run(self, emit: Emit) -> None:
        while not self._stop.is_set():
            try:
                bus = self._connect()
            except AtspiUnavailable as exc:
                self.unavailable = exc.reason
                report_unavailable(exc.reason)
            else:
                self.unavailable = None
                try:
                    self._follow(bus, emit)
                except AtspiUnavailable as exc:
                    self.unavailable = exc.reason
                    report_unavailable(exc.reason)
                finally:
                    self.connected.clear()
                    bus.close()
            # A lost bus keeps the last answer (an active field stays redacted) until
            # the next connection reads the focus again.
            if self._stop.wait(self.retry_interval):
                return

    def _follow(self, bus: AtspiBus, emit: Emit) -> None:
        tracker = FocusTracker(bus.role_of)
        tracker.reset(bus.focused_password())
        emit(secure_input_marker(tracker.active))
        self.connected.set()
        while not self._stop.is_set():
            signal = bus.next_signal(self.receive_timeout)
            if signal is not None and tracker.feed(signal):
                emit(secure_input_marker(tracker.active))


def atspi_bus_address(environ: Mapping[str, str] | None = None) -> str:
    """The accessibility bus address: AT_SPI_BUS_ADDRESS, else asked of the session bus.

    Starting ``org.a11y.Bus`` by D-Bus activation launches at-spi-bus-launcher when it
    is installed. Raises AtspiUnavailable with a reason a person can act on.
    """
    env = os.environ if environ is None else environ
    if env.get("AT_SPI_BUS_ADDRESS"):
        return env["AT_SPI_BUS_ADDRESS"]
    if not env.get("DBUS_SESSION_BUS_ADDRESS"):
        raise AtspiUnavailable("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    try:
        session = open_dbus_connection(bus=env["DBUS_SESSION_BUS_ADDRESS"])
    except (OSError, ValueError) as exc:
        raise AtspiUnavailable(
            f"cannot connect to the D-Bus session bus ({type(exc).__name__})"
        ) from None
    try:
        bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
        body = _call(session, new_method_call(bus, "GetAddress"), timeout=5.0)
    except AtspiUnavailable:
        raise AtspiUnavailable(
            "the accessibility bus (org.a11y.Bus) is not available: install at-spi2-core"
        ) from None
    finally:
        session.close()
    return str(body[0])


def connect_atspi(environ: Mapping[str, str] | None = None) -> AtspiBus:
    """Connect to the accessibility bus and register for focus events."""
    try:
        import jeepney  # noqa: F401
    except ImportError:
        raise AtspiUnavailable("jeepney is not installed: pip install jeepney") from None
    return JeepneyAtspiBus(atspi_bus_address(environ))


class JeepneyAtspiBus:
    """AtspiBus over a blocking jeepney connection (used from one thread only)."""

    def __init__(self, address: str, call_timeout: float = 1.0) -> None:
        from jeepney import MatchRule, message_bus
        from jeepney.io.blocking import open_dbus_connection

        self.call_timeout = call_timeout
        try:
            self._conn: Any = open_dbus_connection(bus=address)
        except (OSError, ValueError) as exc:
            raise AtspiUnavailable(
                f"cannot connect to the accessibility bus ({type(exc).__name__})"
            ) from None
        try:
            focus = MatchRule(
                type="signal", interface="org.a11y.atspi.Event.Object", member="StateChanged"
            )
            focus.add_arg_condition(0, "focused")
            deactivate = MatchRule(
                type="signal", interface="org.a11y.atspi.Event.Window", member="Deactivate"
            )
            self._queue: deque[Any] = deque(maxlen=256)
            self._filters = [
                self._conn.filter(rule, queue=self._queue) for rule in (focus, deactivate)
            ]
            for rule in (focus, deactivate):
                _call(self._conn, message_bus.AddMatch(rule), timeout=5.0)
            for event in (FOCUS_EVENT, DEACTIVATE_EVENT):
                self._register(event)
        except BaseException:
            self._conn.close()
            raise

    def _register(self, event: str) -> None:
        # Applications only emit the events some listener registered with the registry
        # (which the bus starts on first use). at-spi2-core >= 2.34 takes (event,
        # properties, app); older registries take the event alone.
        from jeepney import DBusAddress, new_method_call

        registry = DBusAddress(
            "/org/a11y/atspi/registry", bus_name=REGISTRY, interface="org.a11y.atspi.Registry"
        )
        try:
            _call(
                self._conn,
                new_method_call(registry, "RegisterEvent", "sass", (event, [], "")),
                timeout=5.0,
            )
        except AtspiUnavailable:
            try:
                _call(
                    self._conn,
                    new_method_call(registry, "RegisterEvent", "s", (event,)),
                    timeout=5.0,
                )
            except AtspiUnavailable:
                raise AtspiUnavailable(
                    "the AT-SPI registry does not answer (at-spi2-registryd)"
                ) from None

    def next_signal(self, timeout: float) -> AtspiSignal | None:
        """The next focus or deactivation event, or None after ``timeout`` seconds."""
        from jeepney import HeaderFields

        try:
            message = self._conn.recv_until_filtered(self._queue, timeout=timeout)
        except TimeoutError:
            return None
        except (OSError, ValueError) as exc:
            raise AtspiUnavailable(
                f"the accessibility bus connection was lost ({type(exc).__name__})"
            ) from None
        fields = message.header.fields
        body = message.body
        try:
            return AtspiSignal(
                sender=str(fields.get(HeaderFields.sender, "")),
                path=str(fields.get(HeaderFields.path, "")),
                member=str(fields.get(HeaderFields.member, "")),
                detail=str(body[0]),
                detail1=int(body[1]),
            )
        except (IndexError, TypeError, ValueError):
            return None  # a malformed event: not ours to judge

    def role_of(self, sender: str, path: str) -> int | None:
        """The AtspiRole of an object, or None when it cannot be read in time."""
        from jeepney import DBusAddress, new_method_call

        target = DBusAddress(path, bus_name=sender, interface="org.a11y.atspi.Accessible")
        try:
            body = _call(self._conn, new_method_call(target, "GetRole"), timeout=self.call_timeout)
            return int(body[0])
        except (AtspiUnavailable, IndexError, TypeError, ValueError):
            return None

    def focused_password(self) -> bool:
        """Whether any application's cache shows a focused password text."""
        from jeepney import DBusAddress, new_method_call

        desktop = DBusAddress(
            DESKTOP_PATH, bus_name=REGISTRY, interface="org.a11y.atspi.Accessible"
        )
        try:
            apps = _call(
                self._conn, new_method_call(desktop, "GetChildren"), timeout=self.call_timeout
            )[0]
        except AtspiUnavailable:
            return False
        for app, _path in apps:
            cache = DBusAddress(CACHE_PATH, bus_name=app, interface="org.a11y.atspi.Cache")
            try:
                items = _call(
                    self._conn, new_method_call(cache, "GetItems"), timeout=self.call_timeout
                )[0]
            except AtspiUnavailable:
                continue  # an application without a cache (or a slow one)
            if any(_is_focused_password(item) for item in items):
                return True
        return False

    def close(self) -> None:
        """Close the connection."""
        for handle in self._filters:
            handle.close()
        self._conn.close()


def _is_focused_password(item: Any) -> bool:
    # Cache items end with (..., role u, description s, states au) in every at-spi2-atk
    # layout; the states are a 64-bit set split into two 32-bit words.
    try:
        role, states = int(item[-3]), item[-1]
        return role == ROLE_PASSWORD_TEXT and bool(int(states[0]) & (1 << STATE_FOCUSED))
    except (IndexError, TypeError, ValueError):
        return False


def _call(conn: Any, message: Any, timeout: float) -> tuple[Any, ...]:
    # A method call's reply body; an error reply, a timeout or a lost connection become
    # AtspiUnavailable (the D-Bus error name only: never a message from an application).
    from jeepney import HeaderFields, MessageType

    try:
        reply = conn.send_and_get_reply(message, timeout=timeout)
    except TimeoutError:
        raise AtspiUnavailable("no answer in time") from None
    except (OSError, ValueError) as exc:
        raise AtspiUnavailable(f"D-Bus failure ({type(exc).__name__})") from None
    if reply.header.message_type == MessageType.error:
        name = reply.header.fields.get(HeaderFields.error_name, "unknown")
        raise AtspiUnavailable(f"D-Bus error {name}")
    return tuple(reply.body)
