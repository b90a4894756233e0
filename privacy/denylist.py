"""The denylist: applications, window titles and sites that are never recorded.

The default list ships with the agent (``default_denylist.toml``, package data). The
organisation's policy adds entries (``add_org``), and so may the person
(``add_person``); there is no way to remove an entry, so the person can make the list
longer but never shorter than the organisation wants. ``DeniedWindowSuppressor`` is
the stage that applies it: while a denied window is focused it drops every input
event, frame and the window event itself, and when focus moves on it emits a generic
``Marker(kind="suppressed", detail={"seconds": ...})`` that names neither the app
nor the category.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import TYPE_CHECKING, Any

from capture.events import Event, Frame, Key, Marker, MouseButton, MouseMove, Scroll, Window
from privacy.errors import DenylistError

if TYPE_CHECKING:
    from consent.policy import Denylist as PolicyDenylist
from privacy.window_rules.classifier import Verdict, WindowClassifier
from privacy.window_rules.normalize import strip_invisible
from privacy.window_rules.urls import DEFAULT_DETAIL, UrlDetail, stored_url

log = logging.getLogger(__name__)

DEFAULT_FILE = "default_denylist.toml"
VERDICT_CACHE = 1024
"""Verdicts remembered (title, app, process, url); cleared whole when full."""
CUSTOM = "custom"
"""The category of an added entry that names none."""

SUPPRESSED = "suppressed"
"""The marker kind that explains a gap left by a denied window."""


@dataclass(frozen=True)
class DenyRule:
    """One denylist entry: a category and the apps, title patterns and sites it covers."""

    category: str
    apps: frozenset[str] = frozenset()
    titles: tuple[re.Pattern[str], ...] = ()
    domains: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "entry") -> DenyRule:
        """Build a rule from its TOML/JSON form; raises DenylistError on a bad shape."""
        unknown = set(data) - {"category", "apps", "titles", "domains"}
        if unknown:
            raise DenylistError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        category = data.get("category", CUSTOM)
        if not isinstance(category, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", category):
            raise DenylistError(f"{where}: category must be a short lowercase word")
        apps = _strings(data, "apps", where)
        titles = tuple(
            _title_pattern(t, f"{where}.titles") for t in _strings(data, "titles", where)
        )
        domains = tuple(d.lower().removeprefix("www.") for d in _strings(data, "domains", where))
        if not (apps or titles or domains):
            raise DenylistError(f"{where}: needs at least one of apps, titles, domains")
        return cls(category, frozenset(_app_key(a) for a in apps), titles, domains)

    def match(self, title: str, app_keys: Iterable[str], url: str | None = None) -> bool:
        """Whether a window with this (lowercased) title, app names and tab URL is covered.

        A domain matches where it is written in the title, and on the URL's host (its
        subdomains too) and path (``gov.uk/universal-credit`` covers that path only).
        """
        if self.apps and any(key in self.apps for key in app_keys):
            return True
        if any(p.search(title) for p in self.titles):
            return True
        if any(d in title for d in self.domains):
            return True
        return url is not None and any(_url_covered(url, d) for d in self.domains)


def _url_covered(url: str, domain: str) -> bool:
    from privacy.window_rules.classifier import url_parts
    from privacy.window_rules.taxonomy import split_domain

    parts = url_parts(url)
    if parts is None:
        return False
    host, path = parts
    d_host, d_path = split_domain(domain)
    return (host == d_host or host.endswith("." + d_host)) and path.lower().startswith(d_path)


def _strings(data: Mapping[str, Any], name: str, where: str) -> list[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DenylistError(f"{where}: {name} must be a list of non-empty strings")
    return [v.strip() for v in value]


def _title_pattern(text: str, where: str) -> re.Pattern[str]:
    if text.startswith("re:"):
        try:
            return re.compile(text[3:], re.IGNORECASE)
        except re.error as exc:
            raise DenylistError(f"{where}: bad regular expression ({exc.msg})") from None
    return re.compile(re.escape(text), re.IGNORECASE)


def _app_key(name: str) -> str:
    return name.strip().lower().removesuffix(".exe")


def rules_from_toml(text: str, where: str) -> list[DenyRule]:
    """Parse a denylist file's text (``[[entry]]`` tables); raises DenylistError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DenylistError(f"{where}: not valid TOML ({exc})") from None
    if set(data) - {"entry"}:
        # No "remove" or "allow" key exists: entries can only be added.
        raise DenylistError(f"{where}: only [[entry]] tables are allowed")
    entries = data.get("entry", [])
    return [DenyRule.from_mapping(e, f"{where}: entry {i + 1}") for i, e in enumerate(entries)]


def default_rules() -> list[DenyRule]:
    """The rules of the default list shipped with the agent."""
    return list(_default_rules())


@functools.cache
def _default_rules() -> tuple[DenyRule, ...]:
    text = resources.files("privacy").joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
    return tuple(rules_from_toml(text, DEFAULT_FILE))


class Denylist:
    """The organisation's entries (defaults included) plus the person's additions."""

    def __init__(
        self,
        org: Sequence[DenyRule] | None = None,
        person: Sequence[DenyRule] = (),
        classifier: WindowClassifier | None = None,
    ) -> None:
        self._base = list(default_rules() if org is None else org)
        self._org = list(self._base)
        self._person = list(person)
        self._classifier = classifier or WindowClassifier()
        self._verdicts: dict[tuple[str, str, str | None, str | None], Verdict] = {}
        self.url_detail: UrlDetail = DEFAULT_DETAIL
        """How much of a tab's URL window events keep (policy ``url_detail``)."""

    @property
    def classifier(self) -> WindowClassifier:
        """The category taxonomy's judge, with the policy's categories and work domains."""
        return self._classifier

    def set_policy(
        self,
        enforce: Iterable[str] | None = None,
        work_domains: Iterable[str] = (),
        url_detail: UrlDetail = DEFAULT_DETAIL,
    ) -> None:
        """Apply the policy's choice of categories (the floor always stays), its work
        domains (which count against blocking) and how much of a URL is stored.
        The judge is swapped whole, like ``set_additions``."""
        judge = WindowClassifier(enforce=enforce, work_domains=work_domains)
        unknown = sorted(set(enforce or ()) - judge.taxonomy.names)
        if unknown:
            # A newer policy than this agent: its other categories still apply.
            log.warning("the policy names unknown denylist categories: %s", ", ".join(unknown))
        self._classifier = judge
        self._verdicts = {}
        self.url_detail = url_detail

    @classmethod
    def default(cls) -> Denylist:
        """The shipped default list, with no additions."""
        return cls()

    @property
    def org_rules(self) -> tuple[DenyRule, ...]:
        """The organisation's rules (read-only)."""
        return tuple(self._org)

    @property
    def person_rules(self) -> tuple[DenyRule, ...]:
        """The person's additions (read-only)."""
        return tuple(self._person)

    def add_org(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Add the organisation's entries (from the fleet policy)."""
        self._org.extend(
            DenyRule.from_mapping(e, f"policy denylist entry {i + 1}")
            for i, e in enumerate(entries)
        )
        self._verdicts = {}

    def add_person(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """Add the person's own entries; they can only add, never remove."""
        self._person.extend(
            DenyRule.from_mapping(e, f"your denylist entry {i + 1}") for i, e in enumerate(entries)
        )
        self._verdicts = {}

    def forget_verdicts(self) -> None:
        """Drop the remembered verdicts (they are dropped whenever the rules change)."""
        self._verdicts = {}

    def set_policy_from(self, options: PolicyDenylist | None) -> None:
        """``set_policy`` from the fleet policy's denylist section (None: no policy)."""
        if options is None:
            self.set_policy()
        else:
            self.set_policy(options.categories, options.work_domains, options.url_detail)

    def set_additions(
        self, org_entries: Iterable[Mapping[str, Any]], person: Sequence[DenyRule]
    ) -> None:
        """Replace the policy's and the person's additions; the shipped rules always stay.

        For a policy refresh or an edited personal file. Each list is swapped whole, so
        a concurrent ``match`` sees the old or the new rules, never a partial list.
        """
        org = self._base + [
            DenyRule.from_mapping(e, f"policy denylist entry {i + 1}")
            for i, e in enumerate(org_entries)
        ]
        self._org, self._person = org, list(person)
        # After the rules: a verdict being judged meanwhile lands in the old cache.
        self._verdicts = {}

    def match(
        self, title: str, app: str, process: str | None = None, url: str | None = None
    ) -> str | None:
        """The category that stops this window being recorded, or None if it may be.

        The listed entries (shipped, the organisation's, the person's) come first, then
        the category taxonomy (privacy/window_rules); ``url`` is the focused tab's
        address when the browser extension reports it.
        """
        return self.judge(title, app, process, url).category

    def judge(
        self, title: str, app: str, process: str | None = None, url: str | None = None
    ) -> Verdict:
        """``match`` with the evidence that decided (for `privacy check-window`).

        Verdicts are remembered until the rules change: the screen mask asks about every
        visible window on every frame, mostly the same few.
        """
        key = (title, app, process, url)
        verdicts = self._verdicts
        known = verdicts.get(key)
        if known is not None:
            return known
        verdict = self._judge(title, app, process, url)
        if len(verdicts) >= VERDICT_CACHE:
            verdicts.clear()
        verdicts[key] = verdict
        return verdict

    def _judge(self, title: str, app: str, process: str | None, url: str | None) -> Verdict:
        lowered = strip_invisible(title).lower()
        keys = [_app_key(app)] if app else []
        if process:
            keys.append(_app_key(process))
        for rule in self._org:
            if rule.match(lowered, keys, url):
                return Verdict(rule.category, "entry")
        for rule in self._person:
            if rule.match(lowered, keys, url):
                return Verdict(rule.category, "entry")
        return self._classifier.classify(title, app, process, url)


class DeniedWindowSuppressor:
    """The buffering stage that records nothing while a denied window is focused.

    It holds nothing back; it is a buffering stage only because leaving a denied window
    releases two events (the "suppressed" marker, then the new window event). Markers
    (consent, lifecycle) pass through untouched. Removal counts are by event type only.
    """

    name = "denied_window"
    passes_when_idle: frozenset[type] = frozenset(
        {MouseMove, MouseButton, Scroll, Key, Frame, Marker}
    )
    """Outside a denied window only window events need a look (see ``idle``)."""
    releases_on_tick = False
    """Its tick releases nothing (leaving a denied window releases on the window event):
    the pipeline need not wake for it while a denied window stays focused."""

    def __init__(self, denylist: Denylist) -> None:
        self.denylist = denylist
        self.removed: dict[str, int] = {}
        self._since: tuple[float, float] | None = None  # (ts, mono) suppression began
        self._last: tuple[float, float] = (0.0, 0.0)

    @property
    def suppressing(self) -> bool:
        """Whether a denied window is focused now."""
        return self._since is not None

    @property
    def idle(self) -> bool:
        """No denied window is focused: every event but a window event passes untouched."""
        return self._since is None

    def process(self, event: Event) -> list[Event]:
        """Drop the event while a denied window is focused; mark the gap when focus leaves."""
        if isinstance(event, Window):
            self._last = (event.ts, event.mono)
            url = event.url
            denied = self.denylist.match(event.title, event.app, event.process, url) is not None
            if not denied and url is not None:
                # Judged on the whole URL; stored only as the policy allows.
                event = replace(event, url=stored_url(url, self.denylist.url_detail))
            if denied:
                if self._since is None:
                    self._since = (event.ts, event.mono)
                self._drop(event)
                return []
            if self._since is not None:
                marker = self._marker(event.ts, event.mono)
                self._since = None
                return [marker, event]
            return [event]
        if self._since is None or isinstance(event, Marker):
            return [event]
        self._last = (event.ts, event.mono)
        self._drop(event)
        return []

    def tick(self, now_mono: float) -> list[Event]:
        """Nothing is held, so nothing is released."""
        return []

    def flush(self) -> list[Event]:
        """On pause or rotation, account for the gap so far (suppression goes on)."""
        if self._since is None:
            return []
        ts, mono = self._last
        if mono <= self._since[1]:
            ts, mono = time.time(), time.monotonic()
        marker = self._marker(ts, mono)
        self._since = (ts, mono)
        return [marker]

    def take_removed(self) -> dict[str, int]:
        """Return and reset the counts of dropped events, by event type."""
        out, self.removed = self.removed, {}
        return out

    def _drop(self, event: Event) -> None:
        self.removed[event.type] = self.removed.get(event.type, 0) + 1

    def _marker(self, ts: float, mono: float) -> Marker:
        assert self._since is not None
        seconds = max(0.0, mono - self._since[1])
        # Whole seconds only, and nothing about what was suppressed.
        return Marker(ts=ts, mono=mono, kind=SUPPRESSED, detail={"seconds": round(seconds)})
