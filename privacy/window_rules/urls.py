"""What of a tab's URL the agent may store: nothing, the site, or the site and path.

The full URL is judged in memory (rules look at the path: ``gov.uk/universal-credit``
is not ``gov.uk/bank-holidays``) and then reduced before anything is written. Query
strings, fragments, user names and passwords are never stored: they carry search
terms, tokens and session ids.
"""

from __future__ import annotations

from typing import Final, Literal
from urllib.parse import quote, urlsplit

UrlDetail = Literal["none", "domain", "path"]
DETAILS: Final = ("none", "domain", "path")
DEFAULT_DETAIL: Final[UrlDetail] = "domain"
MAX_URL: Final = 2048
"""Longer URLs are refused whole (the extension never sends one; a page could)."""


def stored_url(url: str | None, detail: UrlDetail = DEFAULT_DETAIL) -> str | None:
    """``url`` as it may be stored under ``detail``; None when nothing may be, or when
    it is not an http(s) URL with a host."""
    if url is None or detail == "none" or len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    site = f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")
    if detail == "domain":
        return site + "/"
    return site + quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
