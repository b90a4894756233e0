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


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f5;color:#18181b}
header{padding:10px 16px;background:#18181b;color:#fafafa}
header h1{font-size:17px;margin:0 0 4px}
header p{margin:0;font-size:12px;color:#d4d4d8}
#day{display:flex;flex-wrap:wrap;gap:12px;padding:12px 12px 0}
#sessions{flex:2 1 460px}
.card{background:#fff;border:1px solid #d4d4d8;padding:8px 12px;flex:1 1 300px;min-width:0}
.card h2{font-size:14px;margin:0 0 6px}
.card table{border-collapse:collapse;width:100%;font-size:13px}
.card td,.card th{padding:1px 6px 1px 0;text-align:left;vertical-align:top}
.card td.t{white-space:nowrap;font-variant-numeric:tabular-nums}
td.bar{width:35%}td.bar span{display:block;height:10px;background:#60a5fa}
.card ul{margin:0;padding-left:18px}
code.copy{user-select:all;background:#f4f4f5;padding:1px 4px;border:1px solid #d4d4d8}
.small{font-size:12px;color:#52525b;margin:4px 0 0}
main{display:flex;gap:12px;padding:12px;align-items:flex-start}
#stage{flex:1 1 auto;min-width:0;background:#fff;border:1px solid #d4d4d8;padding:8px}
aside{flex:0 0 min(30%,460px);background:#fff;border:1px solid #d4d4d8}
#search{box-sizing:border-box;width:100%;padding:6px;border:0;border-bottom:1px solid #d4d4d8}
#matches{margin:0;padding:2px 8px;font-size:12px;color:#52525b}
#timeline{max-height:calc(100vh - 120px);overflow:auto;margin:0;padding:0;list-style:none}
#timeline li{padding:3px 8px;border-bottom:1px solid #f4f4f5;cursor:pointer}
#timeline li.current{background:#e0f2fe}
#timeline li.hidden{display:none}
#timeline li.match{background:#fef08a}
#timeline time{color:#71717a;font-variant-numeric:tabular-nums;margin-right:6px}
li.session{background:#18181b;color:#fafafa;font-weight:600}
li.marker{background:#fef9c3}li.marker.consent{background:#fde68a;font-weight:600}
li.marker.suppressed{background:repeating-linear-gradient(45deg,#fde68a 0 6px,#fff 6px 12px)}
li.gap{background:#e4e4e7;color:#52525b;font-style:italic;text-align:center}
li.frame{color:#52525b}
.typed{font-family:ui-monospace,monospace;background:#ecfccb;white-space:pre-wrap}
.redacted{font-family:ui-monospace,monospace;background:#fecaca;color:#7f1d1d}
kbd{border:1px solid #a1a1aa;border-radius:3px;padding:0 3px;background:#fafafa}
figure.frame{margin:0 0 12px}
.view{overflow:auto;max-height:calc(100vh - 130px)}
.shot{position:relative;display:block;line-height:0}
.shot img{width:100%;height:auto;box-sizing:border-box;border:1px solid #a1a1aa}
.zoomed .shot{display:inline-block}.zoomed .shot img{max-width:none}
.mark{position:absolute;width:22px;height:22px;margin:-11px 0 0 -11px;border-radius:50%;
border:3px solid #dc2626;background:rgba(220,38,38,.25);color:#7f1d1d;font:bold 11px/16px
sans-serif;text-align:center;box-sizing:border-box}
.masked{position:absolute;box-sizing:border-box;border:2px dashed #f59e0b;overflow:hidden;
background:repeating-linear-gradient(45deg,rgba(245,158,11,.6) 0 6px,rgba(24,24,27,.6) 6px 12px);
line-height:1.2;font:bold 11px/1.2 sans-serif}
.masked b{color:#fff;background:#b45309;padding:0 3px;white-space:nowrap}
figcaption{font-size:12px;color:#52525b;margin-top:4px}
.js figure.frame{display:none}.js figure.frame.current{display:block}
nav{margin-bottom:6px;display:none;gap:6px;align-items:center}.js nav{display:flex}
nav input{flex:1}
#bar{display:flex;height:8px;margin-bottom:8px;gap:2px}
#bar span{display:block;background:#a1a1aa;cursor:pointer}#bar span.current{background:#2563eb}
.empty{color:#71717a;font-style:italic}
"""

SCRIPT = """
(function(){
  var doc = document;
  doc.documentElement.classList.add("js");
  var frames = Array.prototype.slice.call(doc.querySelectorAll("figure.frame"));
  var rows = Array.prototype.slice.call(doc.querySelectorAll("#timeline li"));
  var segs = Array.prototype.slice.call(doc.querySelectorAll("#bar span"));
  var slider = doc.getElementById("slider");
  var label = doc.getElementById("position");
  var play = doc.getElementById("play");
  var search = doc.getElementById("search");
  var matches = doc.getElementById("matches");
  var stage = doc.getElementById("stage");
  var shown = -1, zoom = 0, timer = null, current = null;
  var firstRow = {};
  rows.forEach(function(row, i){
    var f = row.getAttribute("data-frame");
    var heading = row.classList.contains("session");
    if (f !== null && !heading && !(f in firstRow)) { firstRow[f] = row; }
  });
  function image(i) {
    var img = frames[i] && frames[i].querySelector("img");
    if (img && !img.getAttribute("src") && img.getAttribute("data-src")) {
      img.setAttribute("src", img.getAttribute("data-src"));
    }
    return img;
  }
  function applyZoom() {
    var img = image(shown);
    stage.classList.toggle("zoomed", zoom > 0);
    if (!img) { return; }
    img.style.width = zoom > 0 ? (img.naturalWidth * zoom) + "px" : "";
    img.setAttribute("data-zoom", String(zoom));
  }
  function mark(row) {
    if (current) { current.classList.remove("current"); }
    current = row || null;
    if (current) {
      current.classList.add("current");
      if (current.scrollIntoView) { current.scrollIntoView({block: "nearest"}); }
    }
  }
  function show(i, fromRow) {
    if (!frames.length) { return; }
    i = Math.max(0, Math.min(frames.length - 1, i));
    if (shown >= 0) { frames[shown].classList.remove("current"); }
    frames[i].classList.add("current");
    shown = i;
    image(i); image(i + 1);
    slider.value = String(i);
    var s = frames[i].getAttribute("data-seg");
    segs.forEach(function(a){ a.classList.toggle("current", a.getAttribute("data-seg") === s); });
    label.textContent = "frame " + (i + 1) + " of " + frames.length + ", " +
      frames[i].getAttribute("data-when");
    if (!fromRow) { mark(firstRow[String(i)]); }
    applyZoom();
  }
  function stop() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    play.textContent = "Play";
  }
  function step() {
    if (shown >= frames.length - 1) { stop(); return; }
    var now = parseFloat(frames[shown].getAttribute("data-ts"));
    var next = parseFloat(frames[shown + 1].getAttribute("data-ts"));
    show(shown + 1);
    timer = setTimeout(step, Math.max(200, Math.min(2000, (next - now) * 1000)));
  }
  play.addEventListener("click", function(){
    if (timer !== null) { stop(); return; }
    if (shown >= frames.length - 1) { show(0); }
    play.textContent = "Pause";
    timer = setTimeout(step, 400);
  });
  function find(q) {
    q = q.trim().toLowerCase();
    var n = 0;
    rows.forEach(function(row){
      var hit = false;
      if (q) {
        var parts = row.querySelectorAll(".title,.app,.typed");
        for (var k = 0; k < parts.length; k++) {
          if (parts[k].textContent.toLowerCase().indexOf(q) >= 0) { hit = true; }
        }
      }
      row.classList.toggle("match", hit);
      row.classList.toggle("hidden", !!q && !hit);
      if (hit) { n += 1; }
    });
    matches.textContent = q ? n + " match(es) in window titles and typed text" : "";
  }
  search.addEventListener("input", function(){ find(search.value); });
  slider.max = String(Math.max(0, frames.length - 1));
  slider.addEventListener("input", function(){ stop(); show(parseInt(slider.value, 10)); });
  doc.getElementById("prev").addEventListener("click", function(){ stop(); show(shown - 1); });
  doc.getElementById("next").addEventListener("click", function(){ stop(); show(shown + 1); });
  Array.prototype.forEach.call(doc.querySelectorAll("button[data-zoom]"), function(b){
    b.addEventListener("click", function(){
      zoom = parseFloat(b.getAttribute("data-zoom")); applyZoom();
    });
  });
  segs.forEach(function(a){
    a.addEventListener("click", function(){
      stop(); show(parseInt(a.getAttribute("data-first"), 10));
    });
  });
  doc.addEventListener("keydown", function(ev){
    if (ev.target === search) { return; }
    if (ev.key === "ArrowLeft") { stop(); show(shown - 1); }
    if (ev.key === "ArrowRight") { stop(); show(shown + 1); }
  });
  rows.forEach(function(row){
    row.addEventListener("click", function(){
      stop(); mark(row);
      var f = row.getAttribute("data-frame");
      if (f !== null) { show(parseInt(f, 10), true); }
    });
  });
  frames.forEach(function(fig){
    var img = fig.querySelector("img");
    if (!img) { return; }
    img.addEventListener("load", function(){
      if (fig.classList.contains("current")) { applyZoom(); }
    });
  });
  var forget = doc.getElementById("forget");
  if (forget) {
    var said = doc.getElementById("forget-result");
    forget.addEventListener("click", function(){
      var ask = "Delete what was recorded in this window? It will never be uploaded.";
      if (!window.confirm(ask)) { return; }
      forget.disabled = true;
      fetch("forget", {method: "POST", headers: {"X-Capture-Agent": "forget"}})
        .then(function(r){ return r.text(); })
        .then(function(t){ said.textContent = t; })
        .catch(function(){ said.textContent = "failed: is `capture-agent view` still running?"; });
    });
  }
  if (doc.body.getAttribute("data-served") === "1") {
    var beat = function(){
      fetch("alive", {method: "POST", headers: {"X-Capture-Agent": "alive"}})
        .catch(function(){});
    };
    beat(); setInterval(beat, 5000);
  }
  var state = {};
  location.hash.replace(/^#/, "").split("&").forEach(function(kv){
    var at = kv.indexOf("=");
    if (at > 0) { state[kv.slice(0, at)] = decodeURIComponent(kv.slice(at + 1)); }
  });
  show(state.f ? parseInt(state.f, 10) || 0 : 0);
  if (state.z) { zoom = parseFloat(state.z) || 0; applyZoom(); }
  if (state.q) { search.value = state.q; find(state.q); }
  doc.body.setAttribute("data-ready", "1");
})();
"""


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
