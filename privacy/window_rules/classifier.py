"""Which sensitive category a window shows: the decision behind the denylist.

The evidence is weighed in this order, the first that speaks decides:

1. the app itself (a password manager, a messenger);
2. private-browsing markers in what the browser adds to the page title ("(Incognito)",
   "Private Browsing", "[InPrivate]"), never in the page title itself;
3. the focused tab's URL (with the browser extension): a work domain of the policy
   records, a sensitive domain or domain/path stops;
4. in an editor or terminal, terminal rules (a password store), and then only its plain
   words: file names, paths and identifiers there are code, not documents;
5. a personal e-mail address in the title;
6. work words or the policy's work domains in the title outweigh what is left;
7. title phrases, site names written in the title, and, for documents, file names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from privacy.window_rules.apps import OTHER, app_key, split_title
from privacy.window_rules.normalize import fold
from privacy.window_rules.taxonomy import Matchers, Taxonomy, split_domain, taxonomy

_EMAIL = re.compile(r"[\w.+-]+@([a-z0-9-]+(?:\.[a-z0-9-]+)+)")
_CODE_WORD = re.compile(r"[/\\_.~@:=$#<>()\[\]{}]|\w-\w|^-")
_SITE = re.compile(r"(?<![\w@.-])((?:[a-z0-9-]+\.)+[a-z]{2,})(?![\w-])")
# Reddit's communities are written "r/name" in its titles, never with its domain.
_SUBREDDIT = re.compile(r"(?:^|[\s(:|])r/[a-z0-9_]{2,21}(?![\w/])")
_FILE = re.compile(
    r"([^\\/:*?\"<>|]+?)\.(pdf|docx?|xlsx?|xlsm|ods|odt|odp|pptx?|csv|rtf|txt|md|pages|numbers"
    r"|key|epub|jpe?g|png|heic|tiff?|kdbx|1pux)(?![a-z0-9])",
    re.IGNORECASE,
)
MAX_TITLE = 1000
"""Longer titles are judged on their first characters (a title is never that long)."""


@dataclass(frozen=True)
class Verdict:
    """A decision: the category that stops recording (None: record) and the evidence."""

    category: str | None
    reason: str
    """app, window, url, work_url, terminal, email, work, title, site, file or none."""


RECORD = Verdict(None, "none")


def url_parts(url: str) -> tuple[str, str] | None:
    """(host, path) of a URL, host without ``www.``; None if it has no host.

    ``about:logins`` is host ``about:logins``; ``chrome://password-manager/x`` is host
    ``password-manager``.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme == "about":
        return f"about:{parts.path.lower()}", ""
    host = (parts.hostname or "").removeprefix("www.")
    if not host:
        return None
    return host, parts.path or "/"


def _host_rules(matchers: Matchers, host: str) -> Iterable[tuple[str, str]]:
    labels = host.split(".")
    for i in range(len(labels) - 1):
        yield from matchers.hosts.get(".".join(labels[i:]), ())
    yield from matchers.hosts.get(host if len(labels) == 1 else "", ())


def _match_host(matchers: Matchers, host: str, path: str | None) -> str | None:
    """The category of the most specific domain rule covering host (and path)."""
    best: tuple[int, str] | None = None
    lowered = (path or "").lower()
    for prefix, category in _host_rules(matchers, host):
        if prefix and (path is None or not _path_covers(prefix, lowered)):
            continue
        if best is None or len(prefix) > best[0]:
            best = (len(prefix), category)
    return best[1] if best else None


def _path_covers(prefix: str, path: str) -> bool:
    """Whether a rule's path covers ``path``: the same path, below it, or the same
    path with a suffix (``/pip`` covers ``/pip-claim`` but not ``/pipelines``)."""
    if not path.startswith(prefix):
        return False
    rest = path[len(prefix) :]
    return not rest or prefix.endswith("/") or rest[0] in "/-_.?#"


def _covered(host: str, domains: tuple[tuple[str, str], ...], path: str = "/") -> bool:
    for d_host, d_path in domains:
        if (host == d_host or host.endswith("." + d_host)) and (
            not d_path or path.lower().startswith(d_path)
        ):
            return True
    return False


class WindowClassifier:
    """Judges windows with the taxonomy, the categories the policy enforces and its work
    domains. Immutable; build a new one when the policy changes."""

    def __init__(
        self,
        tax: Taxonomy | None = None,
        enforce: Iterable[str] | None = None,
        work_domains: Iterable[str] = (),
    ) -> None:
        self.taxonomy = tax or taxonomy()
        chosen = self.taxonomy.names if enforce is None else frozenset(enforce)
        self.enforced = (chosen & self.taxonomy.names) | self.taxonomy.floor
        self.matchers = self.taxonomy.compiled(self.enforced)
        self.work_domains = (
            *self.taxonomy.work_domains,
            *(split_domain(d) for d in work_domains),
        )
        self._vetoable = frozenset(c.name for c in self.taxonomy.categories if c.vetoable)

    def classify(
        self, title: str, app: str, process: str | None = None, url: str | None = None
    ) -> Verdict:
        """The verdict for one window (see the module docstring for the order)."""
        m = self.matchers
        title = title[:MAX_TITLE]
        for name in (app, process):
            if name and (hit := m.apps.get(app_key(name))):
                return Verdict(hit, "app")
        parts = split_title(title, app, process)
        if (hit := self._phrase("window_titles", fold(parts.chrome))) is not None:
            return Verdict(hit, "window")
        # Whole page titles only private windows show ("New Incognito tab").
        if parts.kind in ("browser", OTHER) and (
            hit := self.matchers.tab_titles.get(fold(parts.content))
        ):
            return Verdict(hit, "window")
        if url:
            verdict = self._url(url)
            if verdict is not None:
                return verdict
        content = fold(parts.content)
        code = parts.kind in ("code", "terminal")
        if code:
            if hit := self._phrase("terminal_titles", content):
                return Verdict(hit, "terminal")
            # File names, paths, hosts and identifiers there are code; plain words
            # (a title a program set: "Online Banking") are judged like any title.
            plain = [w for w in parts.content.split() if not _CODE_WORD.search(w)]
            content = fold(" ".join(plain))
        lowered = parts.content.lower()
        work = False
        for mail in _EMAIL.findall(lowered):
            if hit := m.emails.get(mail):
                return Verdict(hit, "email")
            work = work or _covered(mail, self.work_domains)
        work = work or self.taxonomy.work.first(content) is not None
        sites = _SITE.findall(lowered)
        if _SUBREDDIT.search(lowered):
            sites.append("reddit.com")
        work = work or any(_covered(s, self.work_domains) for s in sites)
        if work:
            return Verdict(None, "work")
        if (hit := self._phrase("titles", content)) is not None:
            return Verdict(hit, "title")
        if code:
            return RECORD
        for site in sites:
            if hit := _match_host(m, site.removeprefix("www."), None):
                return Verdict(hit, "site")
        names = [f"{stem} {ext}" for stem, ext in _FILE.findall(parts.content)]
        if not names and parts.kind == "document":
            names = [parts.content]
        for name in names:
            if (hit := self._phrase("files", fold(name))) is not None:
                return Verdict(hit, "file")
        return RECORD

    def _url(self, url: str) -> Verdict | None:
        parsed = url_parts(url)
        if parsed is None:
            return None
        host, path = parsed
        if self.work_domains and _covered(host, self.work_domains, path):
            return Verdict(None, "work_url")
        hit = _match_host(self.matchers, host, path)
        return Verdict(hit, "url") if hit else None

    def _phrase(self, fld: str, text: str) -> str | None:
        index = self.matchers.phrases.get(fld)
        return index.first(text) if index is not None and text else None
