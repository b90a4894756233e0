"""The consent ledger: an append-only, hash-chained JSON-lines file the person can read.

One line per consent change, in canonical JSON (keys sorted, no spaces)::

    {"action": "paused", "actor": "person", "details": {...}, "hash": "<64 hex>",
     "prev": "<64 hex>", "seq": 7, "ts": 1718000000.25, "v": 1}

``hash`` is the SHA-256 of the canonical line without ``hash``; ``prev`` is the previous
line's ``hash`` (64 zeros for the first); ``seq`` counts from 1. ``details`` holds fixed
words and numbers only (states, reasons, snooze end), never captured content.

A small sidecar, ``<name>.head`` (written atomically after each append), records the
last ``seq`` and ``hash``: without it, removing whole lines from the end would leave a
valid chain. What this detects: an edited, deleted, inserted or reordered line, a cut
mid-line and lines cut from the end. What the chain alone cannot: someone who rewrites
the whole chain and the head. For that, every chunk's manifest, signed by the device
key, records the ledger's head when it was sealed (:meth:`Ledger.head`,
storage/anchors.py); :meth:`Ledger.check_anchors` compares the ledger with those.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consent.errors import LedgerError
from consent.state import Transition
from storage import safe_fs
from storage.anchors import LedgerAnchor, anchor_problem
from storage.atomic import fsync_dir, write_atomic
from storage.canonical import canonical_json
from storage.errors import StorageError, UnsafePath

try:  # advisory lock so the CLI and the daemon never interleave an append
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LEDGER_FORMAT = 1
GENESIS = "0" * 64
ACTORS = frozenset(("person", "policy", "system"))
MAX_DETAIL_CHARS = 500

Detail = str | int | float | bool | None
"""A ledger detail value: a primitive, never a container."""

_ACTION = re.compile(r"^[a-z][a-z_]{0,39}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = frozenset(("v", "seq", "ts", "action", "actor", "details", "prev", "hash"))


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger line, as read back."""

    seq: int
    ts: float
    action: str
    actor: str
    details: dict[str, Detail]
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        """The line's fields (for `consent log --json`)."""
        return {
            "v": LEDGER_FORMAT,
            "seq": self.seq,
            "ts": self.ts,
            "action": self.action,
            "actor": self.actor,
            "details": dict(self.details),
            "prev": self.prev,
            "hash": self.hash,
        }


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a line's fields other than ``hash``."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _check_details(details: dict[str, Any]) -> dict[str, Detail]:
    out: dict[str, Detail] = {}
    for key, value in details.items():
        if not isinstance(key, str) or not _ACTION.match(key):
            raise LedgerError(f"ledger detail name {key!r} is not a short lower-case word")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise LedgerError(f"ledger detail {key!r} must be a word or a number")
        if isinstance(value, str) and len(value) > MAX_DETAIL_CHARS:
            raise LedgerError(f"ledger detail {key!r} is longer than {MAX_DETAIL_CHARS} chars")
        out[key] = value
    return out


def _parse_line(line: bytes) -> LedgerEntry:
    """Parse one line; raises ValueError saying what is wrong (hash not checked)."""
    try:
        doc = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("not a JSON line") from None
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise ValueError("not a ledger entry (wrong fields)")
    if doc["v"] != LEDGER_FORMAT:
        raise ValueError(f"unknown ledger format {doc['v']!r}")
    seq, ts = doc["seq"], doc["ts"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError("bad 'seq'")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise ValueError("bad 'ts'")
    if not isinstance(doc["action"], str) or not _ACTION.match(doc["action"]):
        raise ValueError("bad 'action'")
    if doc["actor"] not in ACTORS:
        raise ValueError("bad 'actor'")
    if not isinstance(doc["details"], dict):
        raise ValueError("bad 'details'")
    for name in ("prev", "hash"):
        if not isinstance(doc[name], str) or not _HEX64.match(doc[name]):
            raise ValueError(f"bad '{name}'")
    try:
        details = _check_details(doc["details"])
    except LedgerError as exc:
        raise ValueError(str(exc)) from None
    return LedgerEntry(
        seq=seq,
        ts=float(ts),
        action=doc["action"],
        actor=doc["actor"],
        details=details,
        prev=doc["prev"],
        hash=doc["hash"],
    )


class Ledger:
    """The append-only consent ledger at ``path`` (0600), with its ``.head`` sidecar."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head_path = path.with_name(path.name + ".head")
        self._lock = threading.Lock()
        self._head_cache: tuple[tuple[int, int, int], tuple[int, str]] | None = None

    def append(
        self,
        action: str,
        actor: str,
        details: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> LedgerEntry:
        """Append one line, chained to the last, and make it durable (fsync)."""
        if not _ACTION.match(action):
            raise LedgerError(f"ledger action {action!r} is not a short lower-case word")
        if actor not in ACTORS:
            raise LedgerError(f"ledger actor {actor!r} is not one of {sorted(ACTORS)}")
        clean = _check_details(details or {})
        with self._lock:
            try:
                created = not os.path.lexists(self.path)
                # Never through a link, and only our own regular file: a planted
                # ledger -> elsewhere is refused before it is appended to or chmod-ed.
                fd = safe_fs.open_file(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            except UnsafePath as exc:
                raise LedgerError(str(exc)) from None
            except OSError as exc:
                raise LedgerError(
                    f"{self.path}: cannot open the consent ledger: {exc.strerror or exc}"
                ) from None
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                os.fchmod(fd, 0o600)
                entry = self._write(fd, action, actor, clean, ts)
                if created:
                    fsync_dir(self.path.parent)
            except OSError as exc:
                raise LedgerError(
                    f"{self.path}: cannot append to the consent ledger: {exc.strerror or exc}"
                ) from None
            finally:
                os.close(fd)  # closing releases the flock
            try:
                write_atomic(
                    self.head_path,
                    canonical_json({"seq": entry.seq, "hash": entry.hash}) + b"\n",
                    mode=0o600,
                )
            except StorageError as exc:
                raise LedgerError(
                    f"{self.head_path}: cannot record the ledger head: {exc}"
                ) from None
            return entry

    def append_transition(self, transition: Transition) -> LedgerEntry:
        """Append the line for a consent transition, stamped at its instant."""
        details = {k: v for k, v in transition.details().items() if k != "actor"}
        return self.append(transition.kind, transition.actor, details, ts=transition.ts)

    def _write(
        self, fd: int, action: str, actor: str, details: dict[str, Detail], ts: float | None
    ) -> LedgerEntry:
        size = os.fstat(fd).st_size
        data = _read_all(fd, size)
        seq, prev = 0, GENESIS
        for line in reversed(data.split(b"\n")):
            try:
                last = _parse_line(line)
            except ValueError:
                continue  # damaged or partial: chain from the last line that parses
            seq, prev = last.seq, last.hash
            break
        fields: dict[str, Any] = {
            "v": LEDGER_FORMAT,
            "seq": seq + 1,
            "ts": time.time() if ts is None else float(ts),
            "action": action,
            "actor": actor,
            "details": details,
            "prev": prev,
        }
        fields["hash"] = entry_hash(fields)
        # A partial last line (an interrupted write) stays as it is, for verify to report.
        lead = b"\n" if data and not data.endswith(b"\n") else b""
        payload = lead + canonical_json(fields) + b"\n"
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        return LedgerEntry(
            seq=seq + 1,
            ts=fields["ts"],
            action=action,
            actor=actor,
            details=details,
            prev=prev,
            hash=fields["hash"],
        )

    def _raw(self) -> bytes:
        try:
            fd = safe_fs.open_file(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return b""
        except UnsafePath as exc:
            raise LedgerError(str(exc)) from None
        except OSError as exc:
            raise LedgerError(
                f"{self.path}: cannot read the consent ledger: {exc.strerror or exc}"
            ) from None
        try:
            return _read_all(fd, os.fstat(fd).st_size)
        except OSError as exc:
            raise LedgerError(
                f"{self.path}: cannot read the consent ledger: {exc.strerror or exc}"
            ) from None
        finally:
            os.close(fd)

    def read(self) -> list[LedgerEntry]:
        """Every line that parses, in file order (use :meth:`verify` to trust them)."""
        out: list[LedgerEntry] = []
        for line in self._raw().split(b"\n"):
            try:
                out.append(_parse_line(line))
            except ValueError:
                continue
        return out

    def head(self) -> tuple[int, str] | None:
        """The last entry's (seq, hash), (0, GENESIS) when empty; None when unreadable.

        What each sealed chunk signs into its manifest (storage/anchors.py). Re-read only
        when the file changed (the CLI may append while the daemon runs).
        """
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return 0, GENESIS
            except OSError:
                return None
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            if self._head_cache is not None and self._head_cache[0] == key:
                return self._head_cache[1]
            try:
                data = self._raw()
            except LedgerError:
                return None
            head = 0, GENESIS
            for line in reversed(data.split(b"\n")):
                try:
                    last = _parse_line(line)
                except ValueError:
                    continue
                head = last.seq, last.hash
                break
            self._head_cache = key, head
            return head

    def check_anchors(self, anchors: list[tuple[str, LedgerAnchor]]) -> list[str]:
        """Where the ledger contradicts heads signed into chunks: (chunk label, anchor).

        A ledger rewritten with recomputed hashes passes :meth:`verify`, but not this:
        the chunks were signed by the device key when they were sealed. One line per
        contradicted entry, naming the first chunk that recorded it.
        """
        by_seq = {entry.seq: entry.hash for entry in self.read()}
        found: dict[str, list[str]] = {}
        for label, anchor in anchors:
            problem = anchor_problem(anchor, by_seq)
            if problem is not None:
                found.setdefault(problem, []).append(label)
        lines = []
        for problem, labels in found.items():
            more = f" (and {len(labels) - 1} later chunk(s))" if len(labels) > 1 else ""
            lines.append(f"chunk {min(labels)}{more}: {problem}")
        return lines

    def verify(self) -> list[str]:
        """Problems found (empty: intact): edited, deleted, inserted, reordered or cut lines."""
        with self._lock:
            data = self._raw()
        problems: list[str] = []
        lines = data.split(b"\n")
        complete = lines[:-1]  # everything before the last newline
        if lines[-1]:
            problems.append(
                f"line {len(lines)}: incomplete (the file ends mid-line: "
                f"cut short or an interrupted write)"
            )
        prev, seq = GENESIS, 0
        by_seq: dict[int, str] = {}
        for number, line in enumerate(complete, start=1):
            try:
                entry = _parse_line(line)
            except ValueError as exc:
                problems.append(f"line {number}: unreadable ({exc})")
                continue
            if entry_hash(entry.to_dict()) != entry.hash:
                problems.append(f"line {number}: its content does not match its hash (edited)")
            if entry.prev != prev or entry.seq != seq + 1:
                problems.append(
                    f"line {number}: does not follow the line before it (entry "
                    f"{entry.seq} after entry {seq}: a line was deleted, inserted "
                    f"or moved)"
                )
            prev, seq = entry.hash, entry.seq
            by_seq[entry.seq] = entry.hash
        problems.extend(self._check_head(seq, by_seq))
        return problems

    def _check_head(self, last_seq: int, by_seq: dict[int, str]) -> list[str]:
        try:
            raw = self.head_path.read_bytes()
        except FileNotFoundError:
            if last_seq:
                return [
                    f"{self.head_path.name} is missing: lines cut from the end of the "
                    f"ledger cannot be ruled out"
                ]
            return []
        except OSError as exc:
            return [f"{self.head_path.name}: cannot read ({exc.strerror or exc})"]
        try:
            head = json.loads(raw)
            head_seq, head_hash = int(head["seq"]), str(head["hash"])
        except (ValueError, KeyError, TypeError):
            return [f"{self.head_path.name}: unreadable"]
        if head_seq > last_seq:
            return [
                f"the ledger ends at entry {last_seq} but {head_seq} entries were "
                f"written: entries were removed from the end"
            ]
        if by_seq.get(head_seq) != head_hash:
            return [
                f"entry {head_seq} differs from the one recorded in "
                f"{self.head_path.name} (edited or replaced)"
            ]
        return []


def _read_all(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
