"""`capture-agent view`: one self-contained HTML page to replay a recorded session.

The page is built from decrypted chunks on this machine and holds everything inline
(frames as data: URIs, style and script inline): it loads nothing from anywhere. Its
Content-Security-Policy allows no network at all and only the page's own script (by
hash), so even a mistake in escaping could not run injected script.

Everything that came from the recording (window titles, typed text, app names) is
untrusted: it is HTML-escaped where it is written into the page, and nothing is ever
inserted into the page by script as HTML. Redacted keys are shown as placeholders with
their category, exactly as stored; the page never guesses what was typed.

Regions the screen mask painted over before storage (``agent.export.masks``) are drawn
as hatched, outlined boxes with their category, so a masked area never passes for a
black screen; the header sums what the chunks' manifests say was masked and withheld.
The page only annotates: the pixels under a mask were never stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.export.masks import MaskBox, chunk_masks
from agent.export.trajectory import to_trajectory

if TYPE_CHECKING:
    from storage.trust import TrustedChunks

# A silence longer than this between two recorded events is shown as a gap.
GAP_SECONDS = 60.0
# Marker kinds that are lifecycle, not consent (everything else is a consent change).
LIFECYCLE_MARKERS = frozenset({"started", "stopped", "dropped"})
_CLICKS = frozenset({"click", "double_click", "long_press", "mouse_down"})
_IMAGE_TYPES = {b"RIFF": "image/webp", b"\x89PNG": "image/png", b"\xff\xd8\xff\xe0": "image/jpeg"}


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


def load_session(chunks: TrustedChunks, session: str) -> SessionData:
    """Decrypt the chunks of ``session`` in ``chunks``; frames get ids ``<seq>/<member>``.

    ``chunks`` holds only what `verify` passed (storage/trust.py), unless the person
    asked for unverified reading; a chunk that cannot be read is named in ``problems``.
    """
    from storage.compose import full_frames
    from storage.errors import IntegrityError

    data = SessionData(session)
    for ref in chunks.refs:
        if ref.session != session:
            continue
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


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _num(value: Any) -> str:
    return html.escape(str(value))


def _data_uri(image: bytes) -> str:
    mime = next(
        (m for magic, m in _IMAGE_TYPES.items() if image.startswith(magic)),
        "application/octet-stream",
    )
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def _describe_action(action: dict[str, Any]) -> tuple[str, str]:
    """(css class, HTML) of one folded action; every recorded value escaped."""
    kind = str(action.get("type"))
    e = html.escape
    if kind == "type":
        if action.get("text") is None:
            return "type redacted", (
                f'typed <span class="redacted">[redacted: {e(str(action.get("redacted")))} '
                f"&times; {_num(action.get('length'))}]</span>"
            )
        return "type", f'typed <span class="typed">{e(str(action.get("text")))}</span>'
    if kind == "key":
        return "key", f"key <kbd>{e(str(action.get('key')))}</kbd>"
    if kind in _CLICKS or kind == "mouse_up":
        return "click", (
            f"{e(kind.replace('_', ' '))} {e(str(action.get('button')))} at "
            f"({_num(action.get('x'))}, {_num(action.get('y'))})"
        )
    if kind == "drag":
        return "click", (
            f"drag {e(str(action.get('button')))} from ({_num(action.get('x'))}, "
            f"{_num(action.get('y'))}) to ({_num(action.get('to_x'))}, "
            f"{_num(action.get('to_y'))})"
        )
    if kind == "scroll":
        return "scroll", (
            f"scroll dx {_num(action.get('dx'))} dy {_num(action.get('dy'))} at "
            f"({_num(action.get('x'))}, {_num(action.get('y'))})"
        )
    return "other", e(kind)


def _marker_html(record: dict[str, Any]) -> tuple[str, str]:
    kind = str(record.get("kind"))
    detail = record.get("detail")
    shown = ""
    if isinstance(detail, dict) and detail:
        shown = " " + ", ".join(f"{k}={v}" for k, v in sorted(detail.items()))
    css = "marker lifecycle" if kind in LIFECYCLE_MARKERS else "marker consent"
    label = "recording" if kind in LIFECYCLE_MARKERS else "consent"
    return css, f"{label}: <b>{html.escape(kind)}</b>{html.escape(shown)}"


def _timeline(
    records: list[dict[str, Any]], frame_index: dict[str, int], gap_seconds: float
) -> tuple[list[tuple[float, str, str, int | None]], dict[int, list[dict[str, Any]]]]:
    """Rows (ts, css class, inner HTML, frame number) and the clicks seen on each frame."""
    rows: list[tuple[float, str, str, int | None]] = []
    clicks: dict[int, list[dict[str, Any]]] = {}
    current: int | None = None
    for record in records:
        kind = record.get("type")
        ts = float(record["ts"])
        if kind == "frame":
            number = frame_index.get(str(record.get("file")))
            current = number
            trigger = html.escape(str(record.get("trigger")))
            rows.append(
                (
                    ts,
                    "frame",
                    f"frame #{(number or 0) + 1} ({trigger}, "
                    f"{_num(record.get('width'))}&times;{_num(record.get('height'))})",
                    number,
                )
            )
        elif kind == "window":
            rows.append(
                (
                    ts,
                    "window",
                    f'window <span class="app">'
                    f"{html.escape(str(record.get('app')))}</span> "
                    f'<span class="title">{html.escape(str(record.get("title")))}</span>',
                    current,
                )
            )
        elif kind == "marker":
            css, inner = _marker_html(record)
            rows.append((ts, css, inner, current))
            if record.get("kind") in ("paused", "opted_out", "stopped", "blocked"):
                current = None
    for step in to_trajectory(records):
        action = step["action"]
        number = frame_index.get(str(step["observation"].get("frame")))
        css, inner = _describe_action(action)
        rows.append((float(step["ts"]), css, inner, number))
        if number is not None and action.get("type") in _CLICKS | {"drag"}:
            clicks.setdefault(number, []).append({**action, "_frame": step["observation"]})
    rows.sort(key=lambda row: row[0])
    with_gaps: list[tuple[float, str, str, int | None]] = []
    for row in rows:
        if with_gaps and row[0] - with_gaps[-1][0] > gap_seconds:
            silence = row[0] - with_gaps[-1][0]
            with_gaps.append(
                (with_gaps[-1][0], "gap", f"gap: nothing recorded for {silence:.0f} s", None)
            )
        with_gaps.append(row)
    return with_gaps, clicks


def _click_marks(frame: dict[str, Any], clicks: Iterable[dict[str, Any]]) -> str:
    width = float(frame.get("width") or 0)
    height = float(frame.get("height") or 0)
    left = float(frame.get("left") or 0)
    top = float(frame.get("top") or 0)
    out: list[str] = []
    if width <= 0 or height <= 0:
        return ""
    for number, click in enumerate(clicks, 1):
        try:
            x = (float(click["x"]) - left) / width * 100
            y = (float(click["y"]) - top) / height * 100
        except (KeyError, TypeError, ValueError):
            continue
        if not (0 <= x <= 100 and 0 <= y <= 100):
            continue
        label = f"{click.get('type')} {click.get('button')} at ({click['x']}, {click['y']})"
        out.append(
            f'<span class="mark" style="left:{x:.2f}%;top:{y:.2f}%" '
            f'title="{html.escape(label, quote=True)}">{number}</span>'
        )
    return "".join(out)


def _mask_marks(frame: dict[str, Any], boxes: Iterable[MaskBox]) -> str:
    """Hatched, outlined boxes with their category over the masked parts of a frame."""
    width = float(frame.get("width") or 0)
    height = float(frame.get("height") or 0)
    if width <= 0 or height <= 0:
        return ""
    out: list[str] = []
    for box in boxes:
        label = html.escape(box.category.replace("_", " "))
        title = html.escape(f"masked before storage: {box.category} ({box.stage})", quote=True)
        out.append(
            f'<span class="masked" data-category="{html.escape(box.category, quote=True)}" '
            f'data-stage="{html.escape(box.stage, quote=True)}" title="{title}" '
            f'style="left:{box.x / width * 100:.3f}%;top:{box.y / height * 100:.3f}%;'
            f"width:{box.width / width * 100:.3f}%;height:{box.height / height * 100:.3f}%"
            f'"><b>{label}</b></span>'
        )
    return "".join(out)


def _per_category(boxes: Iterable[MaskBox]) -> str:
    counts: dict[str, int] = {}
    for box in boxes:
        counts[box.category] = counts.get(box.category, 0) + 1
    return ", ".join(f"{html.escape(k)} &times; {n}" for k, n in sorted(counts.items()))


def _scrub_summary(data: SessionData) -> str:
    """The header's line on what the screen mask did (from the manifests)."""
    e = html.escape
    parts: list[str] = []
    per: dict[str, int] = {}
    for stage_counts in data.masked.values():
        for category, n in stage_counts.items():
            per[category] = per.get(category, 0) + n
    if per:
        total = sum(per.values())
        detail = ", ".join(f"{e(k)} {n}" for k, n in sorted(per.items()))
        parts.append(f"{total} screen region(s) masked before storage ({detail})")
    else:
        parts.append("no screen region masked")
    if data.withheld:
        detail = ", ".join(f"{e(k)} {n}" for k, n in sorted(data.withheld.items()))
        parts.append(f"{sum(data.withheld.values())} frame(s) withheld ({detail})")
    if data.unscrubbed:
        parts.append(f"{data.unscrubbed} chunk(s) with frames not judged by the screen mask")
    return f'<p class="scrub">{"; ".join(parts)}.</p>'


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}
header{padding:10px 16px;background:#18181b;color:#fafafa}
header h1{font-size:16px;margin:0 0 4px}
header p{margin:0;font-size:12px;color:#d4d4d8}
main{display:flex;gap:12px;padding:12px;align-items:flex-start}
#stage{flex:3;min-width:0;background:#fff;border:1px solid #d4d4d8;padding:8px}
#timeline{flex:2;max-height:calc(100vh - 90px);overflow:auto;background:#fff;
border:1px solid #d4d4d8;margin:0;padding:0;list-style:none}
#timeline li{padding:3px 8px;border-bottom:1px solid #f4f4f5;cursor:pointer}
#timeline li.current{background:#e0f2fe}
#timeline time{color:#71717a;font-variant-numeric:tabular-nums;margin-right:6px}
li.marker{background:#fef9c3}li.marker.consent{background:#fde68a;font-weight:600}
li.gap{background:#e4e4e7;color:#52525b;font-style:italic;text-align:center}
li.frame{color:#52525b}
.typed{font-family:ui-monospace,monospace;background:#ecfccb;white-space:pre-wrap}
.redacted{font-family:ui-monospace,monospace;background:#fecaca;color:#7f1d1d}
kbd{border:1px solid #a1a1aa;border-radius:3px;padding:0 3px;background:#fafafa}
figure.frame{margin:0 0 12px}
.shot{position:relative;display:inline-block;max-width:100%;line-height:0}
.shot img{max-width:100%;height:auto;border:1px solid #a1a1aa}
.mark{position:absolute;width:22px;height:22px;margin:-11px 0 0 -11px;border-radius:50%;
border:3px solid #dc2626;background:rgba(220,38,38,.25);color:#7f1d1d;font:bold 11px/16px
sans-serif;text-align:center;box-sizing:border-box}
.masked{position:absolute;box-sizing:border-box;border:2px dashed #f59e0b;overflow:hidden;
background:repeating-linear-gradient(45deg,rgba(245,158,11,.6) 0 6px,rgba(24,24,27,.6) 6px 12px);
line-height:1.2;font:bold 11px/1.2 sans-serif}
.masked b{color:#fff;background:#b45309;padding:0 3px;white-space:nowrap}
figcaption{font-size:12px;color:#52525b;margin-top:4px}
.js figure.frame{display:none}.js figure.frame.current{display:block}
nav{margin-bottom:8px;display:none}.js nav{display:flex;gap:8px;align-items:center}
nav input{flex:1}
.empty{color:#71717a;font-style:italic}
"""

SCRIPT = """
(function(){
  var doc = document;
  doc.documentElement.classList.add("js");
  var frames = Array.prototype.slice.call(doc.querySelectorAll("figure.frame"));
  var rows = Array.prototype.slice.call(doc.querySelectorAll("#timeline li"));
  var slider = doc.getElementById("slider");
  var label = doc.getElementById("position");
  var shown = -1;
  function show(i) {
    if (!frames.length) { return; }
    i = Math.max(0, Math.min(frames.length - 1, i));
    if (shown >= 0) { frames[shown].classList.remove("current"); }
    frames[i].classList.add("current");
    shown = i;
    slider.value = String(i);
    label.textContent = "frame " + (i + 1) + " of " + frames.length;
  }
  slider.max = String(Math.max(0, frames.length - 1));
  slider.addEventListener("input", function(){ show(parseInt(slider.value, 10)); });
  doc.getElementById("prev").addEventListener("click", function(){ show(shown - 1); });
  doc.getElementById("next").addEventListener("click", function(){ show(shown + 1); });
  doc.addEventListener("keydown", function(ev){
    if (ev.key === "ArrowLeft") { show(shown - 1); }
    if (ev.key === "ArrowRight") { show(shown + 1); }
  });
  rows.forEach(function(row){
    row.addEventListener("click", function(){
      rows.forEach(function(r){ r.classList.remove("current"); });
      row.classList.add("current");
      var f = row.getAttribute("data-frame");
      if (f !== null) { show(parseInt(f, 10)); }
    });
  });
  show(0);
  doc.body.setAttribute("data-ready", "1");
})();
"""


def _csp_hash(text: str) -> str:
    return (
        "'sha256-"
        + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        + "'"
    )


def render_html(data: SessionData, gap_seconds: float = GAP_SECONDS) -> str:
    """The whole page for one session, as a string (no I/O)."""
    e = html.escape
    frame_records = [
        r
        for r in data.records
        if r.get("type") == "frame" and isinstance(r.get("file"), str) and r["file"] in data.frames
    ]
    frame_index = {str(r["file"]): n for n, r in enumerate(frame_records)}
    rows, clicks = _timeline(data.records, frame_index, gap_seconds)
    times = [float(r["ts"]) for r in data.records]
    start = min(times, default=0.0)
    end = max(times, default=0.0)
    counts: dict[str, int] = {}
    for record in data.records:
        counts[str(record.get("type"))] = counts.get(str(record.get("type")), 0) + 1
    summary = ", ".join(f"{n} {e(k)}" for k, n in sorted(counts.items())) or "no events"
    when = (
        f"{dt.datetime.fromtimestamp(start):%Y-%m-%d %H:%M:%S} to {_when(end)}"
        if data.records
        else ""
    )

    figures: list[str] = []
    for number, record in enumerate(frame_records):
        boxes = data.masks.get(str(record["file"]), [])
        marks = _mask_marks(record, boxes) + _click_marks(record, clicks.get(number, []))
        masked_note = f"; masked: {_per_category(boxes)}" if boxes else ""
        figures.append(
            f'<figure class="frame" id="frame-{number}" data-ts="{float(record["ts"]):.3f}">'
            f'<div class="shot"><img alt="frame {number + 1}" '
            f'src="{_data_uri(data.frames[str(record["file"])])}">{marks}</div>'
            f"<figcaption>frame {number + 1} at {_when(float(record['ts']))}, "
            f"taken on {e(str(record.get('trigger')))}; "
            f"{len(clicks.get(number, []))} click(s) marked{masked_note}</figcaption></figure>"
        )
    if not figures:
        figures.append('<p class="empty">no frames in this session</p>')

    items: list[str] = []
    for ts, css, inner, row_frame in rows:
        frame_attr = f' data-frame="{row_frame}"' if row_frame is not None else ""
        items.append(
            f'<li class="{css}"{frame_attr}><time>{_when(ts)} +{ts - start:.1f}s</time>{inner}</li>'
        )
    if not items:
        items.append('<li class="empty">nothing recorded</li>')
    problems = "".join(f'<p class="problem">skipped: {e(p)}</p>' for p in data.problems)

    # Inline style attributes place the click marks, so styles are 'unsafe-inline'
    # (harmless: no recorded value reaches a style); scripts only by hash.
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {_csp_hash(SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(csp, quote=True)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>capture-agent session {e(data.session)}</title>
<style>{STYLE}</style></head>
<body data-session="{e(data.session, quote=True)}">
<header><h1>Session {e(data.session)}</h1>
<p>{e(when)} &middot; {summary} &middot; {len(frame_records)} frames.
This page holds decrypted recordings: keep it private and delete it when done.</p>
{_scrub_summary(data)}
{problems}</header>
<main><section id="stage">
<nav><button id="prev" type="button">&larr;</button>
<input id="slider" type="range" min="0" max="0" value="0" aria-label="frame">
<button id="next" type="button">&rarr;</button><span id="position"></span></nav>
{"".join(figures)}
</section>
<ol id="timeline">{"".join(items)}</ol></main>
<script>{SCRIPT}</script>
</body></html>
"""
