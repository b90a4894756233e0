"""The tray icon: the daemon's measured state at a glance, and the consent menu.

Layers, so that everything but drawing on a screen is testable without a display:

    view_of(status, ...)  -> TrayView     what to show, from a `status` reply (pure)
    menu_entries(view)    -> [Entry]      the menu and which items are enabled (pure)
    COMMANDS[action]      -> (cmd, args)  what each menu action sends over the socket
    TrayController                         polls and acts through a ``send`` callable
    agent.tray.ui.run()                    the pystray glue (`capture-agent tray`; needs a display)

The icon shows what is *measured*, not what was asked for: "recording" needs the daemon
to answer, consent to say record, capture to be running, and something written lately.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from agent.errors import AgentError, NotRunning
from agent.runtime.status import AgentStatus, DaemonStatus, read_status

POLL_SECONDS = 1.0
ERROR_SHOWN_SECONDS = 60.0
SNOOZE_CHOICES = (5, 15, 30)
APP_TITLE = "capture-agent"

Send = Callable[[str, dict[str, Any]], Any]
"""Sends one control command (``agent.runtime.control.request`` bound to the socket)."""


class Look(Enum):
    """What the icon shows: one distinct picture each (see ``agent.tray.icons``)."""

    RECORDING = "recording"
    QUIET = "quiet"  # consent says record, capture runs, but nothing was written lately
    SNOOZED = "snoozed"
    OPTED_OUT = "opted_out"
    NO_CONSENT = "no_consent"
    BLOCKED = "blocked"
    NOT_RECORDED = "not_recorded"  # recording, but a denied window has the focus
    ERROR = "error"
    STOPPED = "stopped"  # the agent is not running


class Action(Enum):
    """A menu item's meaning."""

    SNOOZE_5 = "snooze_5"
    SNOOZE_15 = "snooze_15"
    SNOOZE_30 = "snooze_30"
    RESUME = "resume"
    OPT_OUT = "opt_out"
    OPT_OUT_PURGE = "opt_out_purge"
    OPT_IN = "opt_in"
    START = "start"
    SHOW = "show"
    QUIT = "quit"


SNOOZE_ACTIONS = {5: Action.SNOOZE_5, 15: Action.SNOOZE_15, 30: Action.SNOOZE_30}

COMMANDS: dict[Action, tuple[str, dict[str, Any]]] = {
    Action.SNOOZE_5: ("pause", {"minutes": 5}),
    Action.SNOOZE_15: ("pause", {"minutes": 15}),
    Action.SNOOZE_30: ("pause", {"minutes": 30}),
    Action.RESUME: ("resume", {}),
    Action.OPT_OUT: ("opt_out", {}),
    Action.OPT_OUT_PURGE: ("opt_out", {}),
    Action.OPT_IN: ("opt_in", {}),
}
"""The control command each consent action sends (OPT_OUT_PURGE then purges what is
stored); START, SHOW and QUIT stay in the tray."""


@dataclass(frozen=True)
class TrayView:
    """Everything the tray shows for one status reading."""

    look: Look
    title: str  # the tooltip: one line a person can read
    minutes_left: int | None = None  # drawn on the snoozed icon
    snooze_max: int = 30
    can_snooze: bool = False
    can_resume: bool = False
    can_opt_in: bool = False
    can_opt_out: bool = False
    running: bool = True  # False: the agent is not running (the menu offers Start)

    def enabled(self, action: Action) -> bool:
        """Whether the menu item for ``action`` may be chosen now."""
        for minutes, snooze in SNOOZE_ACTIONS.items():
            if action is snooze:
                return self.can_snooze and minutes <= self.snooze_max
        return {
            Action.RESUME: self.can_resume,
            Action.OPT_IN: self.can_opt_in,
            Action.OPT_OUT: self.can_opt_out,
            Action.OPT_OUT_PURGE: self.can_opt_out,
            Action.START: not self.running,
        }.get(action, True)


@dataclass(frozen=True)
class Entry:
    """One menu row: a label, its action (None for a heading) and its sub-entries."""

    label: str
    action: Action | None = None
    enabled: bool = True
    children: tuple[Entry, ...] = field(default_factory=tuple)


OPT_OUT_CONFIRM = "Stop recording, keep what was recorded (uploaded after the hold-back)"
OPT_OUT_PURGE_CONFIRM = "Stop recording and delete everything not uploaded yet"
QUIT_RUNNING = "Quit tray (the agent keeps running)"
QUIT_STOPPED = "Quit tray"


def menu_entries(view: TrayView) -> list[Entry]:
    """The menu for ``view``: a status heading, Start (when the agent is not running),
    snoozes, resume, opt out/in, show, quit.

    Opting out asks portably what to do with what was already recorded: "Opt out…"
    opens a submenu with both answers, each saying plainly what happens.
    """
    entries = [Entry(view.title, None, enabled=False)]
    if not view.running:
        entries.append(Entry("Start agent", Action.START))
    for minutes, action in SNOOZE_ACTIONS.items():
        entries.append(Entry(f"Snooze {minutes} minutes", action, view.enabled(action)))
    entries += [
        Entry("Resume recording", Action.RESUME, view.can_resume),
        Entry(
            "Opt out…",
            None,
            view.can_opt_out,
            (
                Entry(OPT_OUT_CONFIRM, Action.OPT_OUT, view.can_opt_out),
                Entry(OPT_OUT_PURGE_CONFIRM, Action.OPT_OUT_PURGE, view.can_opt_out),
            ),
        ),
        Entry("Opt in (start recording)", Action.OPT_IN, view.can_opt_in),
        Entry("Show what is recorded", Action.SHOW),
        Entry(QUIT_RUNNING if view.running else QUIT_STOPPED, Action.QUIT),
    ]
    return entries


def view_of(
    status: AgentStatus | None, problem: str | None, now: float, chunk_seconds: float
) -> TrayView:
    """What to show for a `status` reply (None: no reply; ``problem`` says why).

    When the daemon is not running, ``status`` still carries the persisted consent
    (an ``OfflineStatus``) so the person can opt in or out anyway.
    """
    if status is None:
        return TrayView(Look.ERROR, f"{APP_TITLE}: {problem or 'no answer from the agent'}")
    running = isinstance(status, DaemonStatus)
    consent = status.consent
    choice = consent.choice
    snooze_max = consent.snooze_max_minutes or max(SNOOZE_CHOICES)
    base = TrayView(
        Look.ERROR,
        APP_TITLE,
        snooze_max=snooze_max,
        can_snooze=running
        and (
            choice in ("opted_in", "snoozed")
            or (choice == "undecided" and consent.mode == "opt-out")
        ),
        can_resume=running and choice == "snoozed",
        can_opt_in=choice in ("undecided", "opted_out"),
        can_opt_out=choice != "opted_out",
        running=running,
    )

    def show(look: Look, title: str, minutes_left: int | None = None) -> TrayView:
        return replace(base, look=look, title=f"{APP_TITLE}: {title}", minutes_left=minutes_left)

    cstate = consent.state
    if not isinstance(status, DaemonStatus):
        return show(
            Look.STOPPED,
            (problem or "the agent is not running") + _consent_note(cstate) + "; Start it here",
        )
    failure = status.capture_error or status.storage_error or next(iter(status.health), None)
    if status.state == "error" or failure:
        return show(Look.ERROR, f"error: {failure or 'capture is not running'}")
    if cstate == "snoozed":
        left = consent.minutes_left
        minutes = max(1, math.ceil(left)) if left is not None else None
        text = f"{minutes} min left" if minutes is not None else "for a while"
        return show(Look.SNOOZED, f"snoozed, {text}, then recording resumes", minutes)
    if cstate == "opted_out":
        return show(Look.OPTED_OUT, "opted out, nothing is recorded")
    if cstate == "no_consent":
        return show(Look.NO_CONSENT, "not recording, you have not opted in")
    if cstate == "blocked":
        reason = consent.reason_or_none or status.blocked_reason or "no reason given"
        return show(Look.BLOCKED, f"blocked: {reason}")
    if cstate == "recording":
        quiet_for = _quiet_seconds(status, now, chunk_seconds)
        if quiet_for is not None:
            return show(
                Look.QUIET,
                f"recording, but nothing written for {max(1, round(quiet_for / 60))} min",
            )
        if status.focus_denied:
            return show(Look.NOT_RECORDED, "this window is not recorded (it is on the denylist)")
        return show(Look.RECORDING, "recording")
    return show(Look.ERROR, f"unknown state {cstate!r}")


def _consent_note(cstate: str) -> str:
    notes = {
        "recording": " (you are opted in)",
        "snoozed": " (snoozed)",
        "opted_out": " (you are opted out)",
        "no_consent": " (you have not opted in)",
        "blocked": " (blocked)",
    }
    return notes.get(cstate, "")


def _quiet_seconds(status: DaemonStatus, now: float, chunk_seconds: float) -> float | None:
    """Seconds without anything written while recording, or None when all is well.

    Events flowing or a chunk sealed within two chunk lengths count as written; so does a
    session younger than that (its first chunk is not due yet).
    """
    if status.events_per_second > 0:
        return None
    window = 2.0 * chunk_seconds
    last = status.last_sealed_ts
    since = last if last is not None else status.started_ts
    quiet = now - since
    return quiet if quiet > window else None


OPT_OUT_MODE_NOTICE = (
    "Your organisation records in opt-out mode, so recording has started without you "
    "opting in. Opt out or snooze from this icon's menu at any time; "
    "`capture-agent view` shows what is recorded."
)


def opt_out_mode_recording(status: AgentStatus) -> bool:
    """True while recording only because the organisation runs opt-out mode."""
    consent = status.consent
    return (
        consent.mode == "opt-out" and consent.choice == "undecided" and consent.state == "recording"
    )


class TrayController:
    """The tray without a GUI: reads the daemon's state and carries out menu actions.

    ``send`` talks to the daemon; ``show`` opens "what is recorded". Thread-safe: the
    poller and the menu call it from different threads.
    """

    def __init__(
        self,
        send: Send,
        chunk_seconds: float,
        show: Callable[[], None],
        clock: Callable[[], float] = time.time,
        start: Callable[[], None] | None = None,
        purge: Callable[[], None] | None = None,
    ) -> None:
        self.send = send
        self.chunk_seconds = chunk_seconds
        self.show = show
        self.clock = clock
        self.start = start
        self.purge = purge
        self._lock = threading.Lock()
        self._view = view_of(None, "starting", clock(), chunk_seconds)
        self._error: tuple[str, float] | None = None  # the last failed action, and when
        self._notices: list[str] = []
        self._told_opt_out_mode = False

    @property
    def view(self) -> TrayView:
        """The latest view, with a recent action's error appended to the title."""
        with self._lock:
            view, error = self._view, self._error
        if error is not None and self.clock() - error[1] < ERROR_SHOWN_SECONDS:
            return TrayView(**{**view.__dict__, "title": f"{view.title} | {error[0]}"})
        return view

    def refresh(self) -> TrayView:
        """Ask the daemon for its status and recompute the view."""
        status: AgentStatus | None
        problem: str | None = None
        try:
            status = read_status(self.send("status", {}))
        except NotRunning:
            status, problem = None, "the agent is not running"
        except AgentError as exc:  # BadStatus included: a reply this tray cannot read
            status, problem = None, str(exc)
        view = view_of(status, problem, self.clock(), self.chunk_seconds)
        with self._lock:
            self._view = view
            if (
                status is not None
                and opt_out_mode_recording(status)
                and not self._told_opt_out_mode
            ):
                self._told_opt_out_mode = True
                self._notices.append(OPT_OUT_MODE_NOTICE)
        return self.view

    def take_notices(self) -> list[str]:
        """Messages to show the person once, as desktop notifications (then forgotten)."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices

    def perform(self, action: Action) -> str | None:
        """Carry out a menu action; return an error message for the person, or None."""
        try:
            if action is Action.SHOW:
                self.show()
            elif action is Action.START:
                if self.start is None:
                    raise AgentError("this tray cannot start the agent; run `capture-agent run`")
                self.start()
            elif action in COMMANDS:
                cmd, args = COMMANDS[action]
                self.send(cmd, dict(args))
                if action is Action.OPT_OUT_PURGE:
                    if self.purge is None:
                        raise AgentError("opted out, but nothing was deleted: run `purge --all`")
                    self.purge()
            else:
                return None
        except AgentError as exc:
            message = f"{_label(action)} failed: {exc}"
        except OSError as exc:
            message = f"{_label(action)} failed: {exc.strerror or exc}"
        else:
            with self._lock:
                self._error = None
            self.refresh()
            return None
        with self._lock:
            self._error = (message, self.clock())
        return message


def _label(action: Action) -> str:
    return {
        Action.SNOOZE_5: "Snooze",
        Action.SNOOZE_15: "Snooze",
        Action.SNOOZE_30: "Snooze",
        Action.RESUME: "Resume",
        Action.OPT_OUT: "Opt out",
        Action.OPT_OUT_PURGE: "Opt out and delete",
        Action.OPT_IN: "Opt in",
        Action.START: "Start agent",
        Action.SHOW: "Show what is recorded",
        Action.QUIT: "Quit",
    }[action]
