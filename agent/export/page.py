"""The page `view` shows: what the organisation receives, for a day or a session.

One HTML document: the day view (active time per app and window, the sessions, what the
privacy filters kept out), then a replay across every session shown (slider, play,
zoom, the event list following the slider) and a search over window titles and the
typed text that was kept. It shows what the chunks hold and nothing else: the chunks
are what is uploaded, sealed after every filter and the screen scrub, so the page is
the organisation's view, never more.

Everything that came from the recording (window titles, typed text, app names,
categories) is untrusted: it is HTML-escaped where it is written, and the script never
inserts HTML. The Content-Security-Policy allows only the page's own script (by hash)
and no network but, when served (``agent.export.serve``), this page's own server.

The page's state can be given in its address (``#f=3&z=2&q=invoice``: frame, zoom,
search), so a link opens it where it was, and so headless Chromium can be told what to
show without a remote-control protocol.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.export.masks import MaskBox
from agent.export.page_assets import SCRIPT, STYLE
from agent.export.summary import NOT_RECORDED, DaySummary, duration, summarise
from agent.export.trajectory import to_trajectory
from agent.export.viewer import SessionData
from storage.upload_record import UploadedChunk

GAP_SECONDS = 60.0
"""A silence longer than this between two rows is shown as a gap."""
LIFECYCLE_MARKERS = frozenset({"started", "stopped", "dropped"})
TOP_WINDOWS = 15
_CLICKS = frozenset({"click", "double_click", "long_press", "mouse_down"})
_IMAGE_TYPES = {b"RIFF": "image/webp", b"\x89PNG": "image/png", b"\xff\xd8\xff\xe0": "image/jpeg"}


@dataclass(frozen=True)
class FrameItem:
    """One frame of the replay: its session, record, image and masked regions."""

    session: str
    record: dict[str, Any]
    image: bytes
    masks: list[MaskBox]


@dataclass(frozen=True)
class ForgetOffer:
    """What is still on this machine inside the hold-back window, and how to forget it."""

    minutes: float
    chunks: int
    bytes: int
    served: bool  # True: the page can call it; False: it shows the command to copy

    @property
    def command(self) -> str:
        """The command that forgets the same span."""
        return f"capture-agent forget --last {self.minutes:g}m"


@dataclass
class Replay:
    """Every frame shown, in order across sessions (the server serves their images)."""

    frames: list[FrameItem] = field(default_factory=list)


def build_replay(sessions: Sequence[SessionData]) -> Replay:
    """The frames of ``sessions`` in order, with their images and masks."""
    replay = Replay()
    for data in sessions:
        for record in data.records:
            file = record.get("file")
            if record.get("type") == "frame" and isinstance(file, str) and file in data.frames:
                replay.frames.append(
                    FrameItem(data.session, record, data.frames[file], data.masks.get(file, []))
                )
    return replay


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _num(value: Any) -> str:
    return html.escape(str(value))


def data_uri(image: bytes) -> str:
    """``image`` as a data: URI (the page written to a file holds its frames inline)."""
    return f"data:{image_type(image)};base64,{base64.b64encode(image).decode('ascii')}"


def image_type(image: bytes) -> str:
    """The MIME type of a stored frame, from its first bytes."""
    return next(
        (m for magic, m in _IMAGE_TYPES.items() if image.startswith(magic)),
        "application/octet-stream",
    )


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
        return "type searchable", f'typed <span class="typed">{e(str(action.get("text")))}</span>'
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


def _seconds(detail: object) -> str:
    seconds = detail.get("seconds") if isinstance(detail, dict) else None
    return f" for {duration(float(seconds))}" if isinstance(seconds, int | float) else ""


def marker_html(record: dict[str, Any]) -> tuple[str, str]:
    """(css class, HTML) of a marker row, labelled for what it is."""
    kind = str(record.get("kind"))
    detail = record.get("detail")
    e = html.escape
    if kind == "suppressed":
        return "marker suppressed", (
            f"<b>not recorded</b>: a denied window had the focus{e(_seconds(detail))} "
            "(nothing typed, clicked or shown there was kept)"
        )
    if kind == "secure_input":
        return "marker suppressed", (
            "<b>not recorded</b>: a password field had the focus (secure input)"
        )
    shown = ""
    if isinstance(detail, dict) and detail:
        shown = " " + ", ".join(f"{k}={v}" for k, v in sorted(detail.items()))
    if kind == "forgotten":
        return "marker forgotten", f"<b>forgotten</b> at your request{e(shown)}"
    if kind in LIFECYCLE_MARKERS:
        return "marker lifecycle", f"recording: <b>{e(kind)}</b>{e(shown)}"
    return "marker consent", f"consent: <b>{e(kind)}</b>{e(shown)}"


Row = tuple[float, str, str, int | None]
"""A list row: time, css class, inner HTML, the frame it belongs to."""


def _rows(
    records: list[dict[str, Any]], frame_number: dict[int, int]
) -> tuple[list[Row], dict[int, list[dict[str, Any]]]]:
    """One session's rows and the clicks seen on each frame (global frame numbers;
    ``frame_number`` maps ``id(record)`` of each shown frame record to its number)."""
    rows: list[Row] = []
    clicks: dict[int, list[dict[str, Any]]] = {}
    by_file = {str(r.get("file")): n for r in records if (n := frame_number.get(id(r))) is not None}
    current: int | None = None
    for record in records:
        kind = record.get("type")
        ts = float(record["ts"])
        if kind == "frame":
            number = frame_number.get(id(record))
            if number is None:
                continue
            current = number
            rows.append(
                (
                    ts,
                    "frame",
                    f"frame #{number + 1} ({html.escape(str(record.get('trigger')))}, "
                    f"{_num(record.get('width'))}&times;{_num(record.get('height'))})",
                    number,
                )
            )
        elif kind == "window":
            rows.append(
                (
                    ts,
                    "window searchable",
                    f'window <span class="app">{html.escape(str(record.get("app")))}</span> '
                    f'<span class="title">{html.escape(str(record.get("title")))}</span>',
                    current,
                )
            )
        elif kind == "marker":
            css, inner = marker_html(record)
            rows.append((ts, css, inner, current))
            if record.get("kind") in ("paused", "opted_out", "stopped", "blocked"):
                current = None
    for step in to_trajectory(records):
        action = step["action"]
        number = by_file.get(str(step["observation"].get("frame")))
        css, inner = _describe_action(action)
        rows.append((float(step["ts"]), css, inner, number))
        if number is not None and action.get("type") in _CLICKS | {"drag"}:
            clicks.setdefault(number, []).append(dict(action))
    rows.sort(key=lambda row: row[0])
    with_gaps: list[Row] = []
    for row in rows:
        if with_gaps and row[0] - with_gaps[-1][0] > GAP_SECONDS:
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


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{html.escape(k)} {n}" for k, n in sorted(counts.items()))


def scrub_line(summary: DaySummary) -> str:
    """The line on what the screen mask did (from the manifests)."""
    parts: list[str] = []
    if summary.masked:
        parts.append(
            f"{sum(summary.masked.values())} screen region(s) masked before storage "
            f"({_counts(summary.masked)})"
        )
    else:
        parts.append("no screen region masked")
    if summary.withheld:
        parts.append(
            f"{sum(summary.withheld.values())} frame(s) withheld ({_counts(summary.withheld)})"
        )
    if summary.unscrubbed:
        parts.append(f"{summary.unscrubbed} chunk(s) with frames not judged by the screen mask")
    return f'<p class="scrub">{"; ".join(parts)}.</p>'


def _bars(items: list[tuple[str, float]], total: float, css: str) -> str:
    if not items:
        return '<p class="empty">no active time recorded</p>'
    out = [f'<table class="{css}">']
    for label, seconds in items:
        share = seconds / total * 100 if total > 0 else 0.0
        out.append(
            f'<tr><td>{label}</td><td class="t">{duration(seconds)}</td>'
            f'<td class="bar"><span style="width:{share:.1f}%"></span></td></tr>'
        )
    out.append("</table>")
    return "".join(out)


def day_view(
    summary: DaySummary,
    forget: ForgetOffer | None,
    sent: Sequence[UploadedChunk] | None = None,
) -> str:
    """The summary cards above the replay."""
    e = html.escape
    sessions = "".join(
        f'<tr data-session="{e(s.session, quote=True)}"><td>{e(s.session)}</td>'
        f"<td>{_when(s.start)}&ndash;{_when(s.end)}</td><td>{s.events}</td><td>{s.frames}</td>"
        f"<td>{s.masked}</td><td>{s.withheld}</td></tr>"
        for s in summary.sessions
    )
    total = sum(summary.per_window.values())
    apps = sorted(summary.per_app.items(), key=lambda kv: -kv[1])
    windows = sorted(summary.per_window.items(), key=lambda kv: -kv[1])[:TOP_WINDOWS]
    app_rows = [(f'<span class="app">{e(app)}</span>', t) for app, t in apps]
    if NOT_RECORDED in summary.per_window:
        app_rows.append(("<i>not recorded (denied window)</i>", summary.per_window[NOT_RECORDED]))
    window_rows = [
        (
            "<i>not recorded (denied window)</i>"
            if key == NOT_RECORDED
            else f'<span class="app">{e(key[0])}</span> <span class="title">{e(key[1])}</span>',
            t,
        )
        for key, t in windows
    ]
    kept_out = [
        f"<li>screen regions masked before storage: {sum(summary.masked.values())}"
        + (f" ({_counts(summary.masked)})" if summary.masked else "")
        + "</li>",
        f"<li>frames withheld (not stored at all): {sum(summary.withheld.values())}"
        + (f" ({_counts(summary.withheld)})" if summary.withheld else "")
        + "</li>",
        f"<li>typed keys redacted (stored without the character): "
        f"{sum(summary.redacted.values())}"
        + (f" ({_counts(summary.redacted)})" if summary.redacted else "")
        + "</li>",
        f"<li>time in denied windows, not recorded: {duration(summary.suppressed_seconds)}</li>",
    ]
    return (
        '<section id="day">'
        '<div class="card" id="sessions"><h2>Sessions</h2>'
        "<table><tr><th>session</th><th>time</th><th>events</th><th>frames</th>"
        f"<th>masked</th><th>withheld</th></tr>{sessions}</table></div>"
        f'<div class="card" id="apps"><h2>Active time per app '
        f"({duration(summary.active_seconds)})</h2>{_bars(app_rows, total, 'apps')}</div>"
        f'<div class="card" id="windows"><h2>Active time per window</h2>'
        f"{_bars(window_rows, total, 'windows')}</div>"
        f'<div class="card" id="kept-out"><h2>Kept out by the privacy filters</h2>'
        f"<ul>{''.join(kept_out)}</ul></div>"
        f"{_forget_card(forget)}{'' if sent is None else sent_card(sent)}</section>"
    )


SENT_ROWS = 20
"""Uploaded chunks listed one by one (the newest); the rest are counted."""


def sent_card(sent: Sequence[UploadedChunk]) -> str:
    """What already left this laptop (the upload record): those chunks are deleted here
    once the store confirmed them, so the replay cannot show them; this lists them."""
    e = html.escape
    if not sent:
        return (
            '<div class="card" id="sent"><h2>Sent to your organisation</h2>'
            "<p>nothing from this span has been uploaded.</p></div>"
        )
    newest = sorted(sent, key=lambda c: c.uploaded_ts, reverse=True)
    rows = "".join(
        f"<tr><td>{e(c.session)} #{c.seq}</td>"
        f"<td>{_when(c.from_ts) if c.from_ts is not None else '?'}&ndash;{_when(c.to_ts)}</td>"
        f"<td>{c.bytes / 1e3:.0f} kB</td><td>{_when(c.uploaded_ts)}</td>"
        f"<td>{e(c.destination)}</td></tr>"
        for c in newest[:SENT_ROWS]
    )
    more = (
        f'<p class="small">and {len(sent) - SENT_ROWS} more (`capture-agent ls --uploaded`)</p>'
        if len(sent) > SENT_ROWS
        else ""
    )
    total = sum(c.bytes for c in sent)
    return (
        '<div class="card" id="sent"><h2>Sent to your organisation</h2>'
        f"<p>{len(sent)} chunk(s), {total / 1e6:.1f} MB. Uploaded chunks are deleted here, "
        "so the replay below shows only what is still on this machine.</p>"
        "<table><tr><th>chunk</th><th>covers</th><th>size</th><th>sent</th><th>to</th></tr>"
        f"{rows}</table>{more}</div>"
    )


def _forget_card(forget: ForgetOffer | None) -> str:
    if forget is None:
        return ""
    held = (
        f"{forget.chunks} chunk(s), {forget.bytes / 1e6:.1f} MB, sealed in the last "
        f"{forget.minutes:g} minutes and not uploaded yet, plus what is being recorded now"
    )
    command = html.escape(forget.command)
    if forget.served:
        action = (
            '<button id="forget" type="button">Forget this</button> '
            '<output id="forget-result"></output>'
            f'<p class="small">Same as <code class="copy">{command}</code></p>'
        )
    else:
        action = f'<p>To forget it, run: <code class="copy">{command}</code></p>'
    return (
        '<div class="card" id="holdback"><h2>Not uploaded yet</h2>'
        f"<p>{held}. It waits this long so that you can still take it back.</p>"
        f"{action}</div>"
    )


def csp_hash(text: str) -> str:
    """The CSP source expression allowing exactly the script ``text``."""
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def csp(served: bool) -> str:
    """The page's Content-Security-Policy (served: its own server for images and calls)."""
    # Inline style attributes place the marks, so styles are 'unsafe-inline' (no recorded
    # value reaches a style); scripts only by hash.
    images = "'self' data:" if served else "data:"
    connect = "'self'" if served else "'none'"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; "
        f"script-src {csp_hash(SCRIPT)}; connect-src {connect}; "
        "base-uri 'none'; form-action 'none'"
    )


def render_page(
    sessions: Sequence[SessionData],
    *,
    title: str,
    image_url: Callable[[int], str] | None = None,
    forget: ForgetOffer | None = None,
    problems: Sequence[str] = (),
    sent: Sequence[UploadedChunk] | None = None,
) -> str:
    """The whole page for ``sessions`` (in order), as a string (no I/O).

    ``image_url(n)`` is where frame ``n``'s image is served (loaded when shown); without
    it every frame is inline (a data: URI), so the page is one self-contained file.
    """
    e = html.escape
    replay = build_replay(sessions)
    summary = summarise(sessions)
    frame_number = {id(item.record): n for n, item in enumerate(replay.frames)}
    served = image_url is not None

    rows: list[str] = []
    clicks: dict[int, list[dict[str, Any]]] = {}
    bar: list[str] = []
    for seg, data in enumerate(sessions):
        session_rows, session_clicks = _rows(data.records, frame_number)
        clicks.update(session_clicks)
        numbers = [frame_number[id(r)] for r in data.records if id(r) in frame_number]
        start = min((float(r["ts"]) for r in data.records), default=0.0)
        first = f' data-frame="{numbers[0]}"' if numbers else ""
        rows.append(
            f'<li class="session"{first}><time>{_when(start)}</time>session {e(data.session)}</li>'
        )
        for ts, css, inner, row_frame in session_rows:
            frame_attr = f' data-frame="{row_frame}"' if row_frame is not None else ""
            rows.append(
                f'<li class="{css}"{frame_attr}><time>{_when(ts)} +{ts - start:.1f}s</time>'
                f"{inner}</li>"
            )
        if numbers:
            bar.append(
                f'<span data-seg="{seg}" data-first="{numbers[0]}" style="flex:{len(numbers)}" '
                f'title="session {e(data.session, quote=True)}"></span>'
            )
    if not rows:
        rows.append('<li class="empty">nothing recorded</li>')

    seg_of = {s.session: i for i, s in enumerate(sessions)}
    figures: list[str] = []
    for number, item in enumerate(replay.frames):
        record = item.record
        ts = float(record["ts"])
        marks = _mask_marks(record, item.masks) + _click_marks(record, clicks.get(number, []))
        masked_note = f"; masked: {_per_category(item.masks)}" if item.masks else ""
        source = (
            f'src="{data_uri(item.image)}"'
            if image_url is None
            else f'data-src="{e(image_url(number), quote=True)}"'
        )
        figures.append(
            f'<figure class="frame" id="frame-{number}" data-ts="{ts:.3f}" '
            f'data-seg="{seg_of.get(item.session, 0)}" data-when="{_when(ts)}">'
            f'<div class="view"><div class="shot"><img alt="frame {number + 1}" {source}>'
            f"{marks}</div></div>"
            f"<figcaption>frame {number + 1} at {_when(ts)}, session {e(item.session)}, "
            f"taken on {e(str(record.get('trigger')))}; "
            f"{len(clicks.get(number, []))} click(s) marked{masked_note}</figcaption></figure>"
        )
    if not figures:
        figures.append('<p class="empty">no frames in this session</p>')

    times = [float(r["ts"]) for d in sessions for r in d.records]
    when = (
        f"{dt.datetime.fromtimestamp(min(times)):%Y-%m-%d %H:%M:%S} to {_when(max(times))}"
        if times
        else "nothing recorded"
    )
    skipped = "".join(f'<p class="problem">skipped: {e(p)}</p>' for p in problems)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(csp(served), quote=True)}">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="capture-agent view">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{STYLE}</style></head>
<body data-served="{int(served)}">
<header><h1>What your organisation receives: {e(title)}</h1>
<p>{e(when)} &middot; {len(sessions)} session(s) &middot; {len(replay.frames)} frames &middot;
exactly what the stored chunks hold, after every privacy filter and the screen scrub:
what is uploaded, never more. This page holds decrypted recordings: keep it private.</p>
{scrub_line(summary)}
{skipped}</header>
{day_view(summary, forget, sent)}
<main><section id="stage">
<nav><button id="play" type="button">Play</button>
<button id="prev" type="button">&larr;</button>
<input id="slider" type="range" min="0" max="0" value="0" aria-label="frame">
<button id="next" type="button">&rarr;</button><span id="position"></span>
<button type="button" data-zoom="0">Fit</button><button type="button" data-zoom="1">100%</button>
<button type="button" data-zoom="2">200%</button></nav>
<div id="bar">{"".join(bar)}</div>
{"".join(figures)}
</section>
<aside><input id="search" type="search" placeholder="Search window titles and typed text"
aria-label="search window titles and typed text"><p id="matches"></p>
<ol id="timeline">{"".join(rows)}</ol></aside></main>
<script>{SCRIPT}</script>
</body></html>
"""


def render_html(data: SessionData) -> str:
    """The page for one session, every frame inline: one self-contained file (no I/O)."""
    return render_page([data], title=f"session {data.session}", problems=data.problems)
