"""Which capture backend runs here, for each kind of capture: one table, one override.

``BACKENDS`` maps a kind (input, screen, window, secure_input) and a platform (linux,
darwin, win32) to its backends, the default first. ``CAPTURE_AGENT_BACKEND_<KIND>``
(e.g. ``CAPTURE_AGENT_BACKEND_INPUT=pynput``) picks another row of the same table; a
value the table does not hold is a ``BackendChoiceError`` listing the choices. A row
names its implementation as ``module:attribute``, imported only when chosen, and the
third-party modules it needs: a missing one is a ``SourceUnavailable`` saying what to
install, found without importing it (pynput connects to the display at import).

A new backend is a module in ``capture/<kind>/`` and one row here; a new kind is one
more entry in ``BACKENDS`` (its rows' factories take the kind's own arguments).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from capture.base import Source
from capture.errors import BackendChoiceError, SourceUnavailable
from capture.screen.options import DEFAULT_OPTIONS, ScreenOptions
from capture.window.visible import WindowLister

if TYPE_CHECKING:
    from capture.ocr.base import OcrBackend
    from capture.screen.mss_source import FrameMask, FrameScrub


OVERRIDE_PREFIX = "CAPTURE_AGENT_BACKEND_"
"""``CAPTURE_AGENT_BACKEND_<KIND>`` names the backend to use for that kind."""


@dataclass(frozen=True, slots=True)
class Backend:
    """One row of a backend table: where the implementation lives and what it needs."""

    name: str
    """What the override variable says to choose this row."""
    factory: str
    """``module:attribute`` of the callable that builds the source (nothing started)."""
    requires: tuple[str, ...] = ()
    """Third-party modules it imports; checked before the factory is imported."""
    install: str = ""
    """What to do when one of ``requires`` is missing."""
    lister: str | None = None
    """``module:attribute`` of the visible-window lister (window kind only)."""


_PYNPUT = "pip install pynput (it comes with capture-agent: reinstall it)"
_XLIB = "pip install python-xlib (it comes with capture-agent: reinstall it)"
_MSS = "pip install mss pillow (they come with capture-agent: reinstall it)"
_PYOBJC = "pip install pyobjc-framework-Quartz pyobjc-framework-Cocoa"

PYNPUT_INPUT = Backend("pynput", "capture.input.pynput_hooks:pynput_input", ("pynput",), _PYNPUT)
XRECORD_INPUT = Backend(
    "xrecord", "capture.input.pynput_hooks:xrecord_input", ("pynput", "Xlib"), _PYNPUT
)
MSS_SCREEN = Backend("mss", "capture.screen.mss_source:ScreenSource", ("mss", "PIL"), _MSS)
_TESSERACT = "sudo apt-get install tesseract-ocr; pip install tesserocr (or run make run)"
_VISION = "pip install pyobjc-framework-Vision"
_WINRT = "pip install winrt-Windows.Media.Ocr winrt-Windows.Graphics.Imaging"
TESSERACT_OCR = Backend(
    "tesseract", "capture.ocr.tesseract:TesseractOcr", ("tesserocr",), _TESSERACT
)

BACKENDS: dict[str, dict[str, tuple[Backend, ...]]] = {
    "input": {
        # One RECORD connection read by our own parser: pynput's X11 listener cost more
        # CPU than everything else the agent does with input (docs/PERFORMANCE.md).
        "linux": (XRECORD_INPUT, PYNPUT_INPUT),
        "darwin": (PYNPUT_INPUT,),
        "win32": (PYNPUT_INPUT,),
    },
    "screen": {"linux": (MSS_SCREEN,), "darwin": (MSS_SCREEN,), "win32": (MSS_SCREEN,)},
    "window": {
        "linux": (
            Backend(
                "x11",
                "capture.window.x11:X11WindowSource",
                ("Xlib",),
                _XLIB,
                lister="capture.window.visible_x11:X11WindowLister",
            ),
        ),
        "darwin": (
            Backend(
                "macos",
                "capture.window.macos:MacWindowSource",
                ("AppKit", "Quartz"),
                _PYOBJC,
                lister="capture.window.macos:focus_only_lister",
            ),
        ),
        "win32": (
            Backend(
                "windows",
                "capture.window.windows:WindowsWindowSource",
                lister="capture.window.windows:focus_only_lister",
            ),
        ),
    },
    # No requirement checked: a missing password-field signal only logs why and never
    # stops recording (capture/secure_input/common.py).
    # Text recognition for the screen scrub (privacy/screen_scrub.py). Without it no
    # frame is stored: each is withheld and counted (fail closed).
    "ocr": {
        # No fake row: an override must never turn the scrub into a no-op (tests build
        # capture.ocr.fake.FakeOcr themselves).
        "linux": (TESSERACT_OCR,),
        "darwin": (Backend("macos", "capture.ocr.macos:VisionOcr", ("Vision",), _VISION),),
        "win32": (Backend("windows", "capture.ocr.windows:WindowsOcr", ("winrt",), _WINRT),),
    },
    "secure_input": {
        "linux": (Backend("atspi", "capture.secure_input.atspi:AtspiSecureInput"),),
        "darwin": (Backend("macos", "capture.secure_input.macos:MacSecureInput"),),
        "win32": (Backend("windows", "capture.secure_input.windows:WindowsSecureInput"),),
    },
}


def platform_key(platform: str = sys.platform) -> str:
    """The table's name for ``platform`` ("linux", "darwin", "win32", else itself)."""
    return "linux" if platform.startswith("linux") else platform


def override_variable(kind: str) -> str:
    """The environment variable that overrides ``kind``'s backend."""
    return OVERRIDE_PREFIX + kind.upper()


def choose(
    kind: str, environ: Mapping[str, str] | None = None, platform: str = sys.platform
) -> Backend:
    """The backend row for ``kind`` here: the override's, else the platform's default.

    Raises BackendChoiceError for an override the table does not hold, and
    SourceUnavailable when the platform has no backend for ``kind``.
    """
    env = os.environ if environ is None else environ
    rows = BACKENDS[kind].get(platform_key(platform), ())
    variable = override_variable(kind)
    wanted = env.get(variable, "").strip().lower()
    if not wanted:
        if not rows:
            raise SourceUnavailable(kind, f"no {kind} backend for platform {platform!r}")
        return rows[0]
    for row in rows:
        if row.name == wanted:
            return row
    choices = ", ".join(row.name for row in rows) or "none"
    raise BackendChoiceError(
        f"{variable}={wanted[:40]!r} names no {kind} backend on {platform_key(platform)}: "
        f"choose one of {choices}, or unset it"
    )


def check_overrides(environ: Mapping[str, str] | None = None, platform: str = sys.platform) -> None:
    """Raise BackendChoiceError for any override naming no backend (all kinds, at once)."""
    env = os.environ if environ is None else environ
    for kind in BACKENDS:
        if env.get(override_variable(kind), "").strip():
            choose(kind, env, platform)


def load(
    kind: str,
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
    attribute: str = "factory",
) -> Callable[..., Any]:
    """Import the chosen backend's factory (or ``lister``) for ``kind``.

    Raises SourceUnavailable naming what to install when a module it needs is missing.
    """
    row = choose(kind, environ, platform)
    for required in row.requires:
        if importlib.util.find_spec(required) is None:
            raise SourceUnavailable(kind, _missing(kind, row, required, platform))
    target = row.lister if attribute == "lister" else row.factory
    if target is None:
        raise SourceUnavailable(kind, f"the {row.name} backend cannot list windows")
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or module_name
        raise SourceUnavailable(kind, _missing(kind, row, missing, platform)) from None
    built: Callable[..., Any] = getattr(module, name)
    return built


def _missing(kind: str, row: Backend, module: str, platform: str) -> str:
    others = [r.name for r in BACKENDS[kind].get(platform_key(platform), ()) if r is not row]
    instead = (
        f", or choose another with {override_variable(kind)}={'|'.join(others)}" if others else ""
    )
    return (
        f"the {row.name} backend needs the Python module {module!r}, which is not installed: "
        f"{row.install or 'reinstall capture-agent'}{instead}"
    )


def build_sources(
    keyboard: bool,
    mouse: bool,
    screen: bool,
    window: bool,
    move_hz: float = 60.0,
    *,
    screen_options: ScreenOptions = DEFAULT_OPTIONS,
    screen_mask: Callable[[], FrameMask] | None = None,
    screen_scrub: Callable[[], FrameScrub] | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = sys.platform,
) -> list[Source]:
    """The capture sources for this platform, in start order (nothing started yet).

    Every override is checked first (BackendChoiceError), then each requested kind's
    backend is loaded from ``BACKENDS`` (SourceUnavailable when it cannot be).
    ``screen_mask`` makes the mask every screen grab passes first (called on the screen
    thread; see ``window_lister``), ``screen_scrub`` the OCR scrub that follows it
    (``privacy.screen_scrub.FrameScrubber``; it withholds frames when OCR is missing).
    With keys captured, a "secure_input" source reports password fields from the
    platform (a missing signal only logs why).
    """
    check_overrides(environ, platform)
    sources: list[Source] = []
    if keyboard:
        # Before the keys, so a password field focused at start is known early.
        sources.append(load("secure_input", environ, platform)())
    if keyboard or mouse:
        make_input = load("input", environ, platform)
        sources.append(make_input(keyboard=keyboard, mouse=mouse, move_hz=move_hz))
    if window:
        sources.append(load("window", environ, platform)())
    if screen:
        make_screen = load("screen", environ, platform)
        sources.append(
            make_screen(screen_options, mask_factory=screen_mask, scrub_factory=screen_scrub)
        )
    return sources


def window_lister(environ: Mapping[str, str] | None = None) -> WindowLister:
    """This platform's lister of the windows on screen; create it on the thread using it.

    X11 lists every client window. macOS and Windows only report the focused window for
    now (``complete`` is False): enumerating every window there is not implemented, so
    unfocused denied windows are not masked. Raises SourceUnavailable when nothing can
    list windows here.
    """
    lister: WindowLister = load("window", environ, attribute="lister")()
    return lister


def ocr_backend(environ: Mapping[str, str] | None = None) -> OcrBackend:
    """This platform's OCR engine, started (CAPTURE_AGENT_BACKEND_OCR overrides it).

    Raises OcrUnavailable (engine or its data missing) or SourceUnavailable (module
    missing), each saying what to install; BackendChoiceError for a bad override.
    """
    engine: OcrBackend = load("ocr", environ)()
    return engine
