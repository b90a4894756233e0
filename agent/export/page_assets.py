"""The style and the script of `view`'s page (``agent.export.page``), verbatim.

The script is allowed by its hash in the page's Content-Security-Policy, so any change
to it changes the policy with it (``page.csp``). It never inserts HTML: it only moves
classes, attributes and ``textContent``. Its state comes from the address
(``#f=<frame>&z=<zoom>&q=<search>&play=1``), read once when the page loads.
"""

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
  function start() {
    if (shown >= frames.length - 1) { show(0); }
    play.textContent = "Pause";
    timer = setTimeout(step, 400);
  }
  play.addEventListener("click", function(){
    if (timer !== null) { stop(); return; }
    start();
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
  if (state.play === "1" && frames.length > 1) { start(); }
  doc.body.setAttribute("data-ready", "1");
})();
"""
