"""What `capture-agent view` reads: a session's decrypted records, frames and masks.

Decrypted in memory from chunks `verify` passed (storage/trust.py); nothing here is
written anywhere. ``agent.export.page`` renders it (``render_html`` for one session);
``agent.export.serve`` serves the page on loopback. Redacted keys stay placeholders
with their category, exactly as stored; regions the screen mask painted over before
storage (``agent.export.masks``) are carried with each frame so the page draws them as
masked, never as black screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.export.masks import MaskBox, chunk_masks

if TYPE_CHECKING:
    from storage.trust import TrustedChunks


@dataclass
class SessionData:
    """One session's decrypted records (in order) and frame images by frame id."""

    session: str
    records: list[dict[str, Any]] = field(default_factory=list)
    frames: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    masks: dict[str, list[MaskBox]] = field(default_factory=dict)
    """Masked regions shown on each frame, by frame id."""
    masked: dict[str, dict[str, int]] = field(default_factory=dict)
    """Regions masked per stage and category (the manifests' ``scrub`` records)."""
    withheld: dict[str, int] = field(default_factory=dict)
    """Frames not stored, by reason (the manifests' ``scrub`` records)."""
    unscrubbed: int = 0
    """Chunks with frames and no ``scrub`` record, or with frames stored unscrubbed."""


def load_session(
    chunks: TrustedChunks, session: str, on_chunk: Callable[[], None] | None = None
) -> SessionData:
    """Decrypt the chunks of ``session`` in ``chunks``; frames get ids ``<seq>/<member>``.

    ``chunks`` holds only what `verify` passed (storage/trust.py), unless the person
    asked for unverified reading; a chunk that cannot be read is named in ``problems``.
    ``on_chunk`` is called after each chunk (a progress bar).
    """
    from storage.compose import full_frames
    from storage.errors import IntegrityError
    from storage.reader import in_time_order

    data = SessionData(session)
    for ref in chunks.refs:
        if ref.session != session:
            continue
        if on_chunk is not None:
            on_chunk()
        try:
            chunk = chunks.read(ref)
            records = list(chunk.events())
        except IntegrityError as exc:
            data.problems.append(str(exc))
            continue
        frames = full_frames(records, chunk.members)  # regions composed: whole screens
        masks = chunk_masks(records, chunk.members)
        _add_scrub(data, chunk.manifest)
        for record in records:
            member = record.pop("file", None)
            record.pop("bands", None)  # member names of the stored bands
            record["session"] = session
            if isinstance(member, str) and member in frames:
                frame_id = f"{ref.seq}/{member}"
                data.frames[frame_id] = frames[member]
                record["file"] = frame_id
                if member in masks:
                    data.masks[frame_id] = masks[member]
            data.records.append(record)
    data.records = in_time_order(data.records)  # stored in arrival order (docs/EVENTS.md)
    return data


def _add_scrub(data: SessionData, manifest: dict[str, Any]) -> None:
    """Add a manifest's ``scrub`` counts to the session's (wrong types skipped)."""
    scrub = manifest.get("scrub")
    counts = manifest.get("counts")
    has_frames = isinstance(counts, dict) and bool(counts.get("frame"))
    if not isinstance(scrub, dict):
        data.unscrubbed += has_frames
        return
    if type(scrub.get("unscrubbed")) is int and scrub["unscrubbed"] > 0:
        data.unscrubbed += 1
    masked = scrub.get("masked")
    for stage, per in masked.items() if isinstance(masked, dict) else ():
        for category, n in per.items() if isinstance(per, dict) else ():
            if type(n) is int and n > 0:
                into = data.masked.setdefault(str(stage), {})
                into[str(category)] = into.get(str(category), 0) + n
    withheld = scrub.get("withheld")
    for reason, n in withheld.items() if isinstance(withheld, dict) else ():
        if type(n) is int and n > 0:
            data.withheld[str(reason)] = data.withheld.get(str(reason), 0) + n


def cut_to(data: SessionData, since: float | None, until: float | None) -> SessionData:
    """``data`` with only the records from ``since`` to ``until`` (and their frames)."""
    if since is None and until is None:
        return data
    kept = [
        r
        for r in data.records
        if (since is None or float(r["ts"]) >= since) and (until is None or float(r["ts"]) <= until)
    ]
    files = {str(r["file"]) for r in kept if isinstance(r.get("file"), str)}
    return SessionData(
        data.session,
        kept,
        {k: v for k, v in data.frames.items() if k in files},
        data.problems,
        {k: v for k, v in data.masks.items() if k in files},
        data.masked,
        data.withheld,
        data.unscrubbed,
    )
