"""Rollback protection: the newest fleet policy ever accepted, kept durably in the home.

Whoever controls the policy's location (a web server, a bucket, a file share) but not
the organisation's key can still serve any policy the key ever signed. Replaying an old
``collect: true`` after a ``collect: false`` would undo the kill switch, so a policy is
accepted only if it is not older than the newest one accepted so far:

* ``issued_at`` later than the accepted one: accepted (it becomes the new floor);
* equal, with the same content (the same policy fetched again): accepted;
* equal, with different content: refused; a changed policy is signed anew, later;
* earlier: refused, every time, and the accepted policy stays in force;
* no ``issued_at`` while one that has it was accepted: counts as issued at the epoch,
  so it is refused as older. Before any dated policy was accepted, undated ones are
  accepted as they come (agents and policies made before ``issued_at`` existed);
  ``org sign-policy`` always writes it;
* more than ``MAX_CLOCK_SKEW`` seconds after this machine's clock: refused, since
  accepting it would raise the floor above every policy the organisation signs next.

The floor (``issued_at`` and the SHA-256 of the canonical policy) is the record file,
``policy-accepted.json`` in the home, written atomically whenever it rises::

    {"format": "capture-agent-policy-record", "v": 1,
     "issued_at": "2026-12-01T09:00:00.123456Z", "sha256": "<64 hex>"}

The file is read with ``O_NOFOLLOW`` and must be a small regular file owned by the
person. One that is a symbolic link, foreign, oversized, malformed or dated after the
clock is never guessed around: :class:`~consent.errors.PolicyRecordCorrupt` blocks
capture and says how to recover. What it cannot stop: someone with the person's
account removing both this record and the policy cache, which looks like a new install
(the next genuine policy served is accepted whatever its date). Such a person can run
their own recorder anyway; the record is there for whoever controls only the source.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta, Struct

from consent.errors import PolicyIssuedInFuture, PolicyRecordCorrupt, PolicyRollback
from consent.policy import Policy, UtcDatetime, policy_body
from storage.atomic import write_atomic
from storage.canonical import canonical_json

RECORD_FORMAT: Final = "capture-agent-policy-record"
RECORD_VERSION: Final = 1
MAX_RECORD_BYTES = 4096
MAX_CLOCK_SKEW = 300.0
"""Seconds a policy's ``issued_at`` may be ahead of this machine's clock (clocks drift)."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """An aware time as ISO 8601 UTC with a ``Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def policy_digest(policy: Policy) -> str:
    """SHA-256 (hex) of the policy's canonical form: the same policy always gives the same."""
    return hashlib.sha256(canonical_json(policy_body(policy))).hexdigest()


@dataclass(frozen=True, slots=True)
class AcceptedPolicy:
    """The floor: when the newest accepted policy was issued, and which policy it was."""

    issued_at: datetime
    digest: str

    @classmethod
    def of(cls, policy: Policy) -> AcceptedPolicy | None:
        """The floor ``policy`` sets once accepted; None when it carries no ``issued_at``."""
        if policy.issued_at is None:
            return None
        return cls(policy.issued_at, policy_digest(policy))


def check_order(policy: Policy, floor: AcceptedPolicy | None, now: float, where: str) -> None:
    """Raise PolicyIssuedInFuture or PolicyRollback unless ``policy`` may be accepted
    over ``floor`` at wall time ``now`` (see the module's rules); ``where`` names it."""
    issued = policy.issued_at
    if issued is not None and issued.timestamp() > now + MAX_CLOCK_SKEW:
        raise PolicyIssuedInFuture(
            f"{where}: the fleet policy was issued at {iso(issued)}, more than "
            f"{MAX_CLOCK_SKEW / 60:g} minutes after this machine's clock "
            f"({iso(datetime.fromtimestamp(now, UTC))}); refused until the clock catches up "
            "(check the clock here and on the machine that signed it)"
        )
    if floor is None:
        return
    accepted = iso(floor.issued_at)
    if issued is None:
        raise PolicyRollback(
            f"{where}: the fleet policy carries no issued_at, so it counts as issued at "
            f"{iso(EPOCH)}, before the one already accepted (issued at {accepted}); "
            "refused, the accepted policy stays in force (sign it with "
            "`capture-agent org sign-policy`, which dates it)"
        )
    if issued < floor.issued_at:
        raise PolicyRollback(
            f"{where}: the fleet policy was issued at {iso(issued)}, before the one already "
            f"accepted (issued at {accepted}); a replayed old policy is refused and the "
            "accepted one stays in force"
        )
    if issued == floor.issued_at and policy_digest(policy) != floor.digest:
        raise PolicyRollback(
            f"{where}: the fleet policy says it was issued at {iso(issued)}, like the one "
            "already accepted, but its content differs; refused (a changed policy must be "
            "signed anew, with a later issued_at)"
        )


class _RecordFile(Struct, frozen=True, forbid_unknown_fields=True):
    """The record file's fields, validated strictly."""

    format: Literal["capture-agent-policy-record"]
    v: Literal[1]
    issued_at: UtcDatetime
    sha256: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]


def _corrupt(path: Path, why: str) -> PolicyRecordCorrupt:
    return PolicyRecordCorrupt(
        f"{path}: the record of the newest accepted fleet policy {why}; no policy is "
        "trusted and capture stays blocked (if nobody tampered with it, remove the file: "
        "the next policy served is then accepted as new)"
    )


def _read_capped(path: Path) -> bytes | None:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _corrupt(path, "is a symbolic link") from None
        raise _corrupt(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _corrupt(path, "is not a regular file")
        uid = os.getuid() if hasattr(os, "getuid") else None
        if uid is not None and st.st_uid != uid:
            raise _corrupt(path, f"is owned by another user (uid {st.st_uid})")
        data = os.read(fd, MAX_RECORD_BYTES + 1)
    except OSError as exc:
        raise _corrupt(path, f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_RECORD_BYTES:
        raise _corrupt(path, f"is larger than {MAX_RECORD_BYTES} bytes")
    return data


def load_record(path: Path, now: float) -> AcceptedPolicy | None:
    """The floor kept in ``path`` (None when there is no file); raises PolicyRecordCorrupt
    when the file cannot be trusted, including a date after ``now`` plus the skew (the
    agent never accepts such a policy, so the clock went back or the file was forged)."""
    data = _read_capped(path)
    if data is None:
        return None
    try:
        record = msgspec.json.decode(data, type=_RecordFile)
    except msgspec.MsgspecError:
        raise _corrupt(path, "is malformed") from None
    issued = record.issued_at.astimezone(UTC)
    if issued.timestamp() > now + MAX_CLOCK_SKEW:
        raise _corrupt(
            path,
            f"says a policy issued at {iso(issued)} was accepted, after this machine's "
            f"clock ({iso(datetime.fromtimestamp(now, UTC))}): the clock went back or "
            "the file was forged",
        )
    return AcceptedPolicy(issued, record.sha256)


def save_record(path: Path, floor: AcceptedPolicy) -> None:
    """Write ``floor`` to ``path`` atomically (0600); raises StorageError."""
    record = _RecordFile(RECORD_FORMAT, RECORD_VERSION, floor.issued_at, floor.digest)
    write_atomic(path, msgspec.json.encode(record) + b"\n", mode=0o600)
