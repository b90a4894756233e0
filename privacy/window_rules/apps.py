"""What kind of app a window belongs to, and the title's content without the app's name.

Kinds: ``browser``, ``document`` (PDF viewers, office apps, image viewers), ``code``
(editors, IDEs, database and API tools), ``terminal`` and ``other``. The app name
decides when it is known (``apps.toml``); otherwise the suffix the app writes after
its content ("… - Google Chrome", "… — Document Viewer") does, which also covers
Windows process names and macOS bundle ids not listed.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

from privacy.window_rules.normalize import fold, strip_invisible

KINDS = ("browser", "document", "code", "terminal")
OTHER = "other"

# Title separators apps put between content and their own name.
_SEPARATOR = re.compile(r"\s+[-–—|·•]\s+|\s+[-–—]$")
# A browser's profile or mode after its name: "Google Chrome (Incognito)", "- Personal -".
_BROWSER_TAIL = re.compile(r"\s*\([^()]*\)\s*$")
# Edge writes its private mode before the page title: "[InPrivate] Amazon.com".
_LEADING_MODE = re.compile(r"^\[[^\[\]]{1,30}\]\s*")


@dataclass(frozen=True)
class AppKinds:
    """App names and title suffixes per kind, folded."""

    by_app: dict[str, str]
    suffixes: dict[str, str]  # folded suffix -> kind
    browsers: tuple[str, ...]  # browser suffixes, longest first (private modes add words)


def app_key(name: str) -> str:
    """An app name as rules list it: trimmed, lowercase, without ``.exe``."""
    return name.strip().lower().removesuffix(".exe")


@functools.cache
def app_kinds() -> AppKinds:
    """The shipped ``apps.toml``, loaded once."""
    text = resources.files("privacy.window_rules").joinpath("apps.toml").read_text("utf-8")
    data = tomllib.loads(text)
    by_app: dict[str, str] = {}
    suffixes: list[tuple[str, str]] = []
    for kind in KINDS:
        section = data.get(kind, {})
        for name in section.get("apps", []):
            by_app[app_key(name)] = kind
        suffixes.extend((fold(s), kind) for s in section.get("suffixes", []))
    browsers = sorted((s for s, k in suffixes if k == "browser"), key=len, reverse=True)
    return AppKinds(by_app, dict(reversed(suffixes)), tuple(browsers))


@dataclass(frozen=True)
class TitleParts:
    """A window title split into what the app shows and the app's own name."""

    kind: str
    content: str
    """The title without the app's name and profile (raw text, invisible characters removed)."""
    chrome: str
    """What the app added around the content: its name, profile, mode ("[InPrivate]",
    "(Incognito)", "Private Browsing"); the whole title when nothing was split off."""


def split_title(title: str, app: str, process: str | None = None) -> TitleParts:
    """The kind of app and the content part of its title."""
    kinds = app_kinds()
    kind = kinds.by_app.get(app_key(app)) if app else None
    if kind is None and process:
        kind = kinds.by_app.get(app_key(process))
    clean = strip_invisible(title).strip()
    content = clean
    # Strip trailing "- App name" segments (and a browser's "- Personal" profile).
    for _ in range(3):
        parts = _SEPARATOR.split(content)
        if len(parts) < 2:
            break
        tail = fold(_BROWSER_TAIL.sub("", parts[-1]))
        hit = kinds.suffixes.get(tail) or _browser_named(tail, kinds.browsers)
        if hit is None:
            if kind == "browser" and tail in ("personal", "work", "default", "inprivate"):
                content = _rejoin(content, parts)
                continue
            break
        kind = kind or hit
        content = _rejoin(content, parts)
    content = content.strip()
    # Nothing split off: the title is all the app wrote ("Tor Browser", "Signal").
    chrome = clean[len(content) :] if content != clean else clean
    lead = _LEADING_MODE.match(content)
    if lead:
        content = content[lead.end() :]
        chrome = lead.group(0) + chrome
    return TitleParts(kind or OTHER, content, chrome)


def _browser_named(tail: str, browsers: tuple[str, ...]) -> str | None:
    # Browsers add words to their name in private modes, before or after it ("Mozilla
    # Firefox Private Browsing", "Navigation privée de Mozilla Firefox").
    for name in browsers:
        if tail.startswith(name + " ") or tail.endswith(" " + name):
            return "browser"
    return None


def _rejoin(content: str, parts: list[str]) -> str:
    # Drop the last segment but keep the original separators of the others.
    return content[: content.rfind(parts[-1])].rstrip(" -–—|·•")
