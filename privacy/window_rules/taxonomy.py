"""The category taxonomy, shipped as data: ``categories.toml`` and ``packs/*.toml``.

Each pack (a language or country: ``en``, ``de``, ``fr``, …, and ``global`` for
brands used everywhere) lists per category the apps, domains, title phrases, file-name
phrases and e-mail domains that show it. Loading merges the packs and compiles each
field into one regular expression per category; ``Taxonomy.compiled`` builds the
per-field matchers for a chosen set of categories.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from privacy.errors import DenylistError
from privacy.window_rules.apps import app_key
from privacy.window_rules.normalize import fold, phrase_regex

PACKAGE = "privacy.window_rules"
FIELDS = (
    "apps", "domains", "titles", "window_titles", "tab_titles", "files", "terminal_titles",
    "emails",
)  # fmt: skip
PHRASE_FIELDS = ("titles", "window_titles", "tab_titles", "files", "terminal_titles")
_HOST = re.compile(r"[a-z0-9*][a-z0-9.*-]*(?::[a-z-]+)?")


@dataclass(frozen=True)
class Category:
    """One category: its name, whether it is in the floor nobody can lower, whether work
    words can outweigh its title phrases, and what it covers (for docs and errors)."""

    name: str
    floor: bool = False
    vetoable: bool = True
    special: bool = False
    about: str = ""


@dataclass
class _Lists:
    apps: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    phrases: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)


KEY_LEN = 4
"""Phrases are indexed by the first letters of their first word (see ``PhraseIndex``)."""


class PhraseIndex:
    """Phrases of several categories, found without trying each on every title.

    A phrase is filed under the first ``KEY_LEN`` letters of its first word (the whole
    word when shorter, where no inflection ending is allowed); a title's words pick the
    few phrases that can start at them, and only those run. Regular expressions
    (``re:``) cannot be filed and are tried as one alternation. The earliest category
    (in taxonomy order) with a match wins, as with one alternation of them all.
    """

    def __init__(self, phrases: Iterable[tuple[int, str, str]]) -> None:
        self._index: dict[str, list[tuple[int, str, LazyPattern]]] = {}
        self._loose: list[tuple[int, str, LazyPattern]] = []
        for order, category, phrase in phrases:
            key = _key(phrase)
            entry = (order, category, LazyPattern(phrase_regex(phrase)))
            if key is None:
                self._loose.append(entry)
            else:
                self._index.setdefault(key, []).append(entry)

    def first(self, text: str) -> str | None:
        """The category of the earliest-ordered phrase found in folded ``text``."""
        best: tuple[int, str] | None = None
        seen: set[str] = set()
        for word in text.split():
            key = word[:KEY_LEN]
            for k in (key, word) if len(word) < KEY_LEN else (key,):
                if k in seen:
                    continue
                seen.add(k)
                for order, category, pattern in self._index.get(k, ()):
                    if (best is None or order < best[0]) and pattern.search(text):
                        best = (order, category)
        for order, category, pattern in self._loose:
            if (best is None or order < best[0]) and pattern.search(text):
                best = (order, category)
        return best[1] if best else None


class LazyPattern:
    """A regular expression compiled when first tried: the packs hold thousands of
    phrases, and compiling them all when the agent starts took seconds (measured: 5,121
    patterns, 2-7 s of CPU before the first event), while a title tries a handful."""

    __slots__ = ("_compiled", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._compiled: re.Pattern[str] | None = None

    def search(self, text: str) -> re.Match[str] | None:
        """``re.search`` of the pattern in ``text`` (compiling it the first time)."""
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self.source)
        return compiled.search(text)


def _key(phrase: str) -> str | None:
    """The index key of a phrase, or None when it must always be tried."""
    if phrase.startswith("re:"):
        return None
    words = fold(phrase.replace("*", " * ").replace("#", " # ")).split()
    if not words or words[0] in ("*", "#"):
        return None
    first = words[0]
    starred = len(words) > 1 and words[1] == "*"
    if len(first) < KEY_LEN:
        # Short words match whole (no ending): the word itself is the key, unless it
        # is a prefix (``ivf*``), which no fixed key covers.
        return None if starred else first
    return first[:KEY_LEN]


@dataclass(frozen=True)
class Matchers:
    """Compiled matchers for one set of enforced categories (see ``Taxonomy.compiled``)."""

    apps: Mapping[str, str]
    hosts: Mapping[str, tuple[tuple[str, str], ...]]
    emails: Mapping[str, str]
    phrases: Mapping[str, PhraseIndex]
    """Per phrase field, the indexed phrases of the enforced categories."""
    tab_titles: Mapping[str, str]
    """Whole page titles (folded) only private windows show, and their category."""


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """Every category and the merged data of every pack."""

    categories: tuple[Category, ...]
    packs: tuple[str, ...]
    lists: _Lists
    work: PhraseIndex
    work_domains: tuple[tuple[str, str], ...] = ()
    """Sites that are work wherever the rest of their domain is not (work.toml
    ``domains``: developers.facebook.com under facebook.com), as (host, path)."""

    @property
    def names(self) -> frozenset[str]:
        """Every category name."""
        return frozenset(c.name for c in self.categories)

    @property
    def floor(self) -> frozenset[str]:
        """The categories enforced whatever the policy says."""
        return frozenset(c.name for c in self.categories if c.floor)

    def category(self, name: str) -> Category:
        """The category called ``name``; KeyError if there is none."""
        for cat in self.categories:
            if cat.name == name:
                return cat
        raise KeyError(name)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - a handful of policies per process
    def compiled(self, enforced: frozenset[str]) -> Matchers:
        """The matchers for the categories in ``enforced`` (in taxonomy order)."""
        lists = self.lists
        order = [c.name for c in self.categories if c.name in enforced]
        phrases = {
            fld: PhraseIndex(
                (i, name, p)
                for i, name in enumerate(order)
                for p in lists.phrases.get(name, {}).get(fld, [])
            )
            for fld in PHRASE_FIELDS
        }
        return Matchers(
            apps={k: v for k, v in lists.apps.items() if v in enforced},
            hosts={
                h: tuple(r for r in rules if r[1] in enforced) for h, rules in lists.hosts.items()
            },
            emails={k: v for k, v in lists.emails.items() if v in enforced},
            phrases=phrases,
            tab_titles={
                fold(t): name
                for name in reversed(order)
                for t in lists.phrases.get(name, {}).get("tab_titles", [])
            },
        )


def _resource(*parts: str) -> Any:
    node = resources.files(PACKAGE)
    for part in parts:
        node = node.joinpath(part)
    return node


def _toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DenylistError(f"{where}: not valid TOML ({exc})") from None


def pack_names() -> tuple[str, ...]:
    """The packs shipped with the agent (``global`` first)."""
    names = sorted(
        p.name.removesuffix(".toml")
        for p in _resource("packs").iterdir()
        if p.name.endswith(".toml")
    )
    return tuple(sorted(names, key=lambda n: (n != "global", n)))


def load_pack(name: str) -> dict[str, dict[str, list[str]]]:
    """One pack's data, checked: categories it names and the fields of each."""
    where = f"pack {name}"
    data = _toml(_resource("packs", f"{name}.toml").read_text("utf-8"), where)
    known = _categories()
    out: dict[str, dict[str, list[str]]] = {}
    for cat, fields in data.items():
        if cat not in {c.name for c in known}:
            raise DenylistError(f"{where}: unknown category {cat!r}")
        if not isinstance(fields, dict) or set(fields) - set(FIELDS):
            raise DenylistError(f"{where}: [{cat}] may only have {', '.join(FIELDS)}")
        for fld, values in fields.items():
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise DenylistError(f"{where}: [{cat}].{fld} must be a list of strings")
        out[cat] = fields
    return out


@functools.cache
def _categories() -> tuple[Category, ...]:
    data = _toml(_resource("categories.toml").read_text("utf-8"), "categories.toml")
    return tuple(
        Category(
            name,
            floor=bool(v.get("floor", False)),
            vetoable=bool(v.get("vetoable", True)),
            special=bool(v.get("special", False)),
            about=str(v.get("about", "")),
        )
        for name, v in data.items()
    )


def split_domain(rule: str) -> tuple[str, str]:
    """A domain rule as (host, path prefix): ``gov.uk/universal-credit`` →
    (``gov.uk``, ``/universal-credit``); the host loses ``www.``."""
    rule = rule.strip().lower().removeprefix("https://").removeprefix("http://")
    host, _, path = rule.partition("/")
    return host.removeprefix("www."), ("/" + path if path else "")


def add_domains(lists: _Lists, category: str, domains: Iterable[str], where: str) -> None:
    """Add domain rules of ``category`` to ``lists`` (raises DenylistError on a bad one)."""
    for rule in domains:
        host, path = split_domain(rule)
        if not _HOST.fullmatch(host):
            raise DenylistError(f"{where}: {rule!r} is not a domain")
        lists.hosts.setdefault(host, []).append((path, category))


@functools.cache
def taxonomy(packs: tuple[str, ...] | None = None) -> Taxonomy:
    """The shipped taxonomy with ``packs`` (default: every pack), loaded once."""
    chosen = pack_names() if packs is None else packs
    lists = _Lists()
    for pack in chosen:
        for cat, fields in load_pack(pack).items():
            for app in fields.get("apps", []):
                lists.apps.setdefault(app_key(app), cat)
            add_domains(lists, cat, fields.get("domains", []), f"pack {pack} [{cat}]")
            for mail in fields.get("emails", []):
                lists.emails[mail.lower()] = cat
            for fld in PHRASE_FIELDS:
                phrases = lists.phrases.setdefault(cat, {}).setdefault(fld, [])
                for phrase in fields.get(fld, []):
                    try:
                        # Only a raw expression can be malformed: a phrase's words are
                        # escaped (and compiled when a title first needs them).
                        if phrase.startswith("re:"):
                            re.compile(phrase_regex(phrase))
                    except re.error as exc:
                        raise DenylistError(
                            f"pack {pack} [{cat}].{fld}: {phrase!r}: {exc}"
                        ) from None
                    phrases.append(phrase)
    work_data = _toml(_resource("work.toml").read_text("utf-8"), "work.toml")
    work = PhraseIndex((0, "work", p) for p in work_data.get("titles", []))
    work_domains = []
    for rule in work_data.get("domains", []):
        host, path = split_domain(rule)
        if not _HOST.fullmatch(host):
            raise DenylistError(f"work.toml domains: {rule!r} is not a host name")
        work_domains.append((host, path))
    return Taxonomy(_categories(), tuple(chosen), lists, work, tuple(work_domains))
