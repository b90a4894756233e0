"""The tray on screen: pystray, the daemon client, "show what is recorded".

pystray is the only GUI library here and is imported lazily (importing it opens the
display). Which backend pystray picks is its business (``PYSTRAY_BACKEND`` overrides);
on its Xorg backend, which has no menu, a click opens ``agent.tray.popup`` instead.
Every state change comes from polling the daemon: the icon shows what it measures.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from agent.config import Config, load_config
from agent.errors import AgentError, CannotCapture, NotRunning
from agent.paths import Paths, resolve_paths
from agent.tray.app import (
    APP_TITLE,
    POLL_SECONDS,
    Action,
    Entry,
    TrayController,
    TrayView,
    menu_entries,
)
from agent.tray.icons import draw_icon, fit_icon

log = logging.getLogger(__name__)

SHOW_TITLE = "capture-agent: what is recorded"
XORG_BACKGROUND = (220, 220, 220, 255)  # the Xorg backend paints no transparency
DOCK_CHECK_SECONDS = 2.0
CLI = [sys.executable, "-m", "agent.cli.main"]


class DaemonClient:
    """Sends commands over the control socket, like the CLI.

    Without a running daemon, `status` still reports the persisted consent and opting
    in or out still takes effect (read by the daemon when it starts), as on the CLI.
    """

    OFFLINE = ("status", "opt_in", "opt_out")

    def __init__(self, paths: Paths, config: Config) -> None:
        self.paths = paths
        self.config = config

    def __call__(self, cmd: str, args: dict[str, Any]) -> Any:
        """Send ``cmd``; the daemon's result, or the persisted consent when it is not running."""
        from agent.runtime.control import request

        try:
            return request(self.paths.socket_path, cmd, args)
        except NotRunning:
            if cmd not in self.OFFLINE:
                raise
        from agent.runtime.consent import ConsentRuntime
        from agent.runtime.status import OfflineStatus

        runtime = ConsentRuntime(self.paths, self.config)
        if cmd != "status":
            getattr(runtime, cmd)()
        return OfflineStatus(consent=runtime.status_record())


def show_recorded(paths: Paths, config: Config) -> None:
    """Open a terminal on `capture-agent status` (what is recorded now, what the screen
    mask painted over and withheld) and `view` (what the organisation receives, served
    from memory to the browser: nothing decrypted is written); without a terminal, `view`
    alone."""
    terminal = next((t for t in ("xterm", "x-terminal-emulator") if shutil.which(t)), None)
    if terminal is not None:
        script = (
            f"{shlex.join([*CLI, 'status'])}; echo; {shlex.join([*CLI, 'view'])}; echo; "
            "echo 'Press Enter to close this window.'; read _"
        )
        _detach([terminal, "-T", SHOW_TITLE, "-e", "sh", "-c", script])
        return
    _detach([*CLI, "view"])


START_WAIT_SECONDS = 15.0


def start_agent(paths: Paths, argv: list[str] | None = None) -> subprocess.Popen[str]:
    """Start `capture-agent run` in the background and wait until it answers (the process
    is returned); AgentError with the fix when it exits first (e.g. no display, or
    refused as root)."""
    from agent.runtime.control import request

    def answers() -> bool:
        try:
            request(paths.socket_path, "status")
        except (AgentError, OSError):
            return False
        return True

    proc = subprocess.Popen(
        argv or [*CLI, "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_WAIT_SECONDS
    while time.monotonic() < deadline:
        if answers():
            if proc.stderr is not None:
                proc.stderr.close()  # it logs to its log file from here on
            # Reap it when it ends (it outlives this call; the tray is its parent).
            threading.Thread(target=proc.wait, name="agent-reaper", daemon=True).start()
            return proc
        try:
            code = proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        said: list[str] = []
        if proc.stderr is not None:
            with proc.stderr:
                said = proc.stderr.read().strip().splitlines()
        raise AgentError(
            f"the agent did not start (exit {code}): "
            f"{said[-1] if said else 'no message'}; run `capture-agent run` to see why"
        )
    if proc.stderr is not None:
        proc.stderr.close()
    threading.Thread(target=proc.wait, name="agent-reaper", daemon=True).start()
    raise AgentError("the agent did not answer after starting; see `capture-agent status`")


def _started(_proc: subprocess.Popen[str]) -> None:
    """The tray keeps nothing of the agent it started (the reaper thread holds it)."""


def purge_all() -> None:
    """`capture-agent purge --all --yes` (after an opt-out); AgentError when it fails."""
    done = subprocess.run(
        [*CLI, "purge", "--all", "--yes"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise AgentError(f"opted out, but deleting failed: {said[-1] if said else done.returncode}")


def _detach(argv: list[str]) -> None:
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Reaped when it ends, so no zombie waits on the tray.
    threading.Thread(target=proc.wait, name="reaper", daemon=True).start()


def notify(icon: Any, message: str) -> None:
    """Tell the person about a failed action: pystray's notification, else notify-send."""
    if getattr(icon, "HAS_NOTIFICATION", False):
        with contextlib.suppress(Exception):
            icon.notify(message, APP_TITLE)
            return
    from agent.runtime.consent import notify as desktop_notify

    desktop_notify(APP_TITLE, message)


class _OnceHandler(logging.Handler):
    """pystray logs tracebacks (e.g. every failed dock); print each message once, one line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message in self.seen:
            return
        self.seen.add(message)
        sys.stderr.write(f"capture-agent tray: {record.name}: {message}\n")


class TrayApp:
    """One pystray icon driven by a ``TrayController``."""

    def __init__(self, pystray: Any, controller: TrayController) -> None:
        self.pystray = pystray
        self.controller = controller
        self.stopping = threading.Event()
        self.poke = threading.Event()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tray-action")
        self.xorg = pystray.Icon.__module__.endswith("_xorg")
        self.popup: Any = None
        items = self._items(self._entries, len(self._entries()))
        if self.xorg:
            from agent.tray.popup import PopupMenu

            self.popup = PopupMenu(self._entries, self.choose)
            items.append(
                pystray.MenuItem(
                    "Menu", lambda _i, _m: self.popup.toggle(), default=True, visible=False
                )
            )
        view = controller.view
        icon_class = _xorg_icon_class(pystray.Icon) if self.xorg else pystray.Icon
        self.icon = icon_class(APP_TITLE, self._image(view), view.title, pystray.Menu(*items))
        self.shown: TrayView | None = None
        self._pending: TrayView | None = None
        self._redock = False
        self._lock = threading.Lock()
        self.bridge = XorgBridge(self.icon, self._on_loop) if self.xorg else None

    def _entries(self) -> list[Entry]:
        return menu_entries(self.controller.view)

    def _items(self, entries: Callable[[], list[Entry]], count: int) -> list[Any]:
        """pystray items whose text and enabled flag follow the current view."""
        return [self._item(entries, i) for i in range(count)]

    def _item(self, entries: Callable[[], list[Entry]], i: int) -> Any:
        pystray = self.pystray

        def entry() -> Entry:
            return entries()[i]

        def children() -> list[Entry]:
            return list(entry().children)

        def activate(_icon: Any, _item: Any) -> None:  # pystray wants exactly two parameters
            chosen = entry().action
            if chosen is not None:
                self.choose(chosen)

        template = entry()
        action: Any = activate
        if template.children:
            action = pystray.Menu(*self._items(children, len(template.children)))
        return pystray.MenuItem(
            lambda _item: entry().label, action, enabled=lambda _item: entry().enabled
        )

    def _image(self, view: TrayView) -> Image.Image:
        image = draw_icon(view.look, view.minutes_left)
        if self.xorg:  # pasted onto an RGB window: give it a background, not black
            background = Image.new("RGBA", image.size, XORG_BACKGROUND)
            return Image.alpha_composite(background, image).convert("RGB")
        return image

    # -- running ---------------------------------------------------------------------

    def run(self) -> int:
        """Show the icon until Quit (or SIGTERM/SIGINT); returns the exit code."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.quit())
        self.icon.run(setup=self._setup)
        if self.bridge is not None:  # its window is gone: pystray must not stop it again
            self.icon._running = False
        self.stopping.set()
        self.worker.shutdown(wait=False, cancel_futures=True)
        if self.popup is not None:
            self.popup.close()
        return 0

    def _setup(self, icon: Any) -> None:
        if self.bridge is None:
            icon.visible = True
        threading.Thread(target=self._poll, name="tray-poll", daemon=True).start()

    def _poll(self) -> None:
        sent: TrayView | None = None
        next_dock_check = time.monotonic() + DOCK_CHECK_SECONDS
        while not self.stopping.is_set():
            view = self.controller.refresh()
            if self.stopping.is_set():
                return
            for message in self.controller.take_notices():
                notify(self.icon, message)
            if self.bridge is None:
                if view != self.shown:
                    self._apply(view)
            else:
                wake = view != sent
                if time.monotonic() >= next_dock_check:
                    next_dock_check = time.monotonic() + DOCK_CHECK_SECONDS
                    # A tray host that starts after the icon (or restarts) never hears
                    # from it: when the icon is not embedded, ask to be docked again.
                    if not self.bridge.embedded():
                        with self._lock:
                            self._redock = wake = True
                if wake:
                    with self._lock:
                        self._pending = sent = view
                    self.bridge.wake()
            self.poke.wait(POLL_SECONDS)
            self.poke.clear()

    def _on_loop(self) -> None:
        """On the Xorg loop thread: show the icon, apply the latest view, dock again."""
        with self._lock:
            view, self._pending = self._pending, None
            redock, self._redock = self._redock, False
        if not self.icon.visible:
            self.icon.visible = True
        if view is not None:
            self._apply(view)
        if redock:
            self.icon._update_icon()

    def _apply(self, view: TrayView) -> None:
        previous, self.shown = self.shown, view
        if previous is None or (previous.look, previous.minutes_left) != (
            view.look,
            view.minutes_left,
        ):
            self.icon.icon = self._image(view)
        if previous is None or previous.title != view.title:
            self.icon.title = view.title
        self.icon.update_menu()

    # -- actions ---------------------------------------------------------------------

    def choose(self, action: Action) -> None:
        """A menu item was chosen: quit, or carry it out off the GUI thread."""
        if action is Action.QUIT:
            self.quit()
            return
        self.worker.submit(self._perform, action)

    def _perform(self, action: Action) -> None:
        message = self.controller.perform(action)
        if message is not None:
            notify(self.icon, message)
        self.poke.set()

    def quit(self) -> None:
        """Stop the tray only; the daemon keeps running."""
        self.stopping.set()
        self.poke.set()
        if self.popup is not None:
            self.popup.close()
        if self.bridge is not None:
            self.bridge.destroy()
        else:
            threading.Thread(target=self.icon.stop, name="tray-stop", daemon=True).start()


class XorgBridge:
    """Runs tray updates on pystray's Xorg loop thread; adds the clicks that backend lacks.

    pystray hands changes made on other threads to its loop through its own X connection,
    and with python-xlib that hand-over can hang (the loop never sees the message), which
    froze the icon on a stale state. Instead the poller sends a ClientMessage from an X
    connection of its own; the loop thread reads it like any event on the icon window and
    runs ``on_loop`` itself, where pystray's setters are plain calls. Quitting likewise
    destroys the icon window from our own connection: the loop ends on its DestroyNotify.

    pystray's icon window does not ask for clicks (pystray issue #151), so its default
    action, which opens our popup menu, would never fire; the bridge asks for them.
    """

    ATOM = "_CAPTURE_AGENT_TRAY_UPDATE"

    def __init__(self, icon: Any, on_loop: Callable[[], None]) -> None:
        from Xlib import X

        self.icon = icon
        self.window_id = int(icon._window.id)
        self.atom = icon._display.intern_atom(self.ATOM)
        pystray_handler = icon._message_handlers.get(X.ClientMessage)

        def on_client_message(event: Any) -> None:
            if event.client_type == self.atom:
                on_loop()
            elif pystray_handler is not None:
                pystray_handler(event)

        icon._message_handlers[X.ClientMessage] = on_client_message
        icon._window.change_attributes(
            event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask
        )
        icon._display.flush()
        self._display: Any = None  # ours, used by the poller thread only

    def _ours(self) -> Any:
        import Xlib.display

        if self._display is None:
            self._display = Xlib.display.Display()
        return self._display

    def wake(self) -> None:
        """Ask the loop thread to run ``on_loop`` (from the poller thread)."""
        from Xlib import X
        from Xlib.protocol import event

        try:
            display = self._ours()
            window = display.create_resource_object("window", self.window_id)
            message = event.ClientMessage(
                window=window, client_type=self.atom, data=(32, [0, 0, 0, 0, 0])
            )
            window.send_event(message, event_mask=X.NoEventMask)
            display.flush()
        except Exception as exc:  # the display went away: the loop ends by itself
            log.debug("tray: cannot wake the icon loop (%s)", exc)

    def embedded(self) -> bool:
        """Whether a tray host holds the icon (its window is not a child of the root)."""
        try:
            display = self._ours()
            window = display.create_resource_object("window", self.window_id)
            return bool(window.query_tree().parent.id != display.screen().root.id)
        except Exception as exc:
            log.debug("tray: dock check failed (%s)", exc)
            return True

    def destroy(self) -> None:
        """End the icon's loop (from any thread, a signal handler included)."""
        import Xlib.display

        try:
            display = Xlib.display.Display()
        except Exception as exc:
            log.error("tray: cannot reach the display to quit (%s)", exc)
            return
        try:
            display.create_resource_object("window", self.window_id).destroy()
            display.sync()
        except Exception as exc:
            log.debug("tray: icon window already gone (%s)", exc)
        finally:
            display.close()


def _xorg_icon_class(base: Any) -> Any:
    """pystray's Xorg icon, docking only when not already embedded, drawn unstretched.

    The stock icon sends a new dock request on every picture change; trayer then embeds
    it again and can lose its place in the panel (clicks miss it). Dock on start, when the
    tray host changed, or when the window is no longer embedded. The stock icon also
    stretches its picture to the window's shape (an oval dot in a tall panel).
    """

    class DockOnceIcon(base):  # type: ignore[misc]
        _icon: Image.Image  # pystray's picture, and the copy it drew for the window
        _icon_data: Image.Image | None

        def _assert_docked(self) -> None:
            root = self._display.screen().root
            if self._systray_manager is None or self._window.query_tree().parent.id == root.id:
                self._dock_window()
            assert self._systray_manager

        def _assert_icon_data(self, width: int, height: int) -> None:
            # pystray stretches the picture to the window the host gives it; hand it one
            # already of that shape, the icon centred and square inside.
            if self._icon_data is not None and self._icon_data.size == (width, height):
                return
            picture = self._icon
            self._icon = fit_icon(picture, width, height, XORG_BACKGROUND).convert("RGB")
            try:
                super()._assert_icon_data(width, height)
            finally:
                self._icon = picture

    return DockOnceIcon


def run() -> int:
    """``capture-agent tray``: run the tray against this home's daemon until Quit."""
    paths = resolve_paths()
    config = load_config(paths.config_file)
    pystray_log = logging.getLogger("pystray")
    pystray_log.addHandler(_OnceHandler())
    pystray_log.propagate = False
    try:
        import pystray  # type: ignore[import-untyped]
    except Exception as exc:  # importing opens the display: no display, no tray
        raise CannotCapture(
            f"the tray cannot start: {type(exc).__name__}: {exc} (is DISPLAY set?)"
        ) from None
    controller = TrayController(
        DaemonClient(paths, config),
        config.storage.chunk_seconds,
        show=lambda: show_recorded(paths, config),
        start=lambda: _started(start_agent(paths)),
        purge=purge_all,
    )
    return TrayApp(pystray, controller).run()
