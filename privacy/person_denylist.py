"""The person's own denylist: a file in their home they (and `privacy deny`) add to.

``denylist.toml`` in the capture home uses the format of the shipped default list
(``[[entry]]`` tables with ``apps``, ``titles``, ``domains`` and an optional
``category``). It can only make the list longer: there is no key that removes or
allows anything, so neither this file nor anything else undoes an entry of the shipped
list or of the organisation's policy. The person may take back their own additions
(:func:`remove_values`, `privacy allow`): that rewrites this file only. The running
agent re-reads it within seconds of a change; a file that does not parse keeps the
previous additions in force and says why, naming the file and the entry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from privacy.denylist import CUSTOM, DenyRule, rules_from_toml
from privacy.errors import DenylistError
from storage import safe_fs
from storage.atomic import write_atomic

FILE_NAME = "denylist.toml"

HEADER = """\
# Your own additions to capture-agent's denylist: windows that are never recorded.
# They add to the shipped list and your organisation's; nothing here can remove those.
# The running agent applies changes within seconds. `capture-agent privacy deny --help`
# adds entries for you, `capture-agent privacy allow` takes yours back, and
# `capture-agent privacy denylist` shows every list in force.
#
# [[entry]]
# category = "custom"              # optional: a short lowercase word
# apps = ["signal"]                # WM_CLASS, process name or bundle id (exact, any case)
# titles = ["Family photos", "re:^Journal"]   # substring, or a regular expression after re:
# domains = ["example-clinic.test"]           # sites, as in browser titles or URLs
"""


def load_person_rules(path: Path) -> list[DenyRule]:
    """The rules of the person's file; none when it does not exist. DenylistError if bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise DenylistError(
            f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    return rules_from_toml(text, str(path))


def file_version(path: Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of the file, None when absent: changes when it is edited."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def append_entry(
    path: Path,
    apps: Sequence[str] = (),
    titles: Sequence[str] = (),
    domains: Sequence[str] = (),
    category: str = CUSTOM,
) -> DenyRule:
    """Validate one entry and append it to the person's file (created 0600 if absent).

    The whole file is checked with the entry added before anything is written, so a
    bad entry or an already broken file changes nothing.
    """
    entry: dict[str, Any] = {"category": category}
    if apps:
        entry["apps"] = list(apps)
    if titles:
        entry["titles"] = list(titles)
    if domains:
        entry["domains"] = list(domains)
    rule = DenyRule.from_mapping(entry, "the new entry")
    block = "\n[[entry]]\n" + "".join(
        f"{key} = {_toml_string(value) if isinstance(value, str) else _toml_list(value)}\n"
        for key, value in entry.items()
    )
    existing = ""
    try:
        before = existing = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = HEADER
    except (OSError, UnicodeDecodeError) as exc:
        raise DenylistError(
            f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    after = before + ("" if before.endswith("\n") else "\n") + block
    rules_from_toml(after, str(path))  # raises, naming the file, before anything changes
    fd = safe_fs.open_file(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # Appended to what was there (a new file gets the explaining header first).
        os.write(fd, after[len(existing) :].encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return rule


def _same(kind: str, a: str, b: str) -> bool:
    """Apps and domains match in any case; a title as it is written in the file."""
    return a == b if kind == "titles" else a.casefold() == b.casefold()


def remove_values(
    path: Path,
    apps: Sequence[str] = (),
    titles: Sequence[str] = (),
    domains: Sequence[str] = (),
) -> tuple[list[str], list[str]]:
    """Take values out of the person's own file; (removed, not found), each 'kind value'.

    An entry left with no app, title or domain goes whole. The file is rewritten
    atomically (through safe_fs: a link at its name is replaced, never written through)
    and checked before it is written; comments in it other than the header are lost.
    Only this file is touched: the shipped and the organisation's entries are not in it.
    """
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise DenylistError(
            f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    rules_from_toml(text, str(path))  # a broken file is said, not rewritten
    entries: list[dict[str, Any]] = tomllib.loads(text).get("entry", []) if text else []
    wanted = [("apps", v) for v in apps] + [("titles", v) for v in titles]
    wanted += [("domains", v) for v in domains]
    removed: list[str] = []
    missing: list[str] = []
    for kind, value in wanted:
        hit = False
        for entry in entries:
            kept = [v for v in entry.get(kind, []) if not _same(kind, v, value)]
            if len(kept) != len(entry.get(kind, [])):
                entry[kind] = kept
                hit = True
        (removed if hit else missing).append(f"{kind[:-1]} {value}")
    if not removed:
        return removed, missing
    body = HEADER
    for entry in entries:
        values = {k: entry[k] for k in ("apps", "titles", "domains") if entry.get(k)}
        if not values:
            continue  # nothing left to deny: the entry goes
        block = {"category": entry.get("category", CUSTOM), **values}
        body += "\n[[entry]]\n" + "".join(
            f"{key} = {_toml_string(value) if isinstance(value, str) else _toml_list(value)}\n"
            for key, value in block.items()
        )
    rules_from_toml(body, str(path))  # raises before anything is written
    write_atomic(path, body.encode("utf-8"))
    return removed, missing
