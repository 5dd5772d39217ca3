//! The status page `stats-http` serves at `/` to browsers: one self-contained HTML document
//! (inline CSS and a little plain JavaScript, no external assets) that polls
//! `/status.json` every second and draws workers, queues, request rate and latency.
//!
//! Owns: the page's markup and script. Must not: reference anything outside the document.

pub const HTML: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rwsgi status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em} h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#eee} .num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;gap:1.5em;flex-wrap:wrap} figure{margin:0} figcaption{font-size:.9em;color:#555}
canvas{background:#fff;border:1px solid #ddd} .busy{color:#b35900} .idle{color:#2a7} .draining,.starting{color:#888}
#error{color:#b00}
</style></head><body>
<h1>rwsgi <span id="version"></span> &mdash; master <span id="pid"></span>, generation <span id="generation"></span></h1>
<div>Requests served: <b id="total-requests">0</b> &middot; listen queue: <span id="queue">-</span> &middot; updated <span id="updated">never</span> <span id="error"></span></div>
<div class="charts">
<figure><canvas id="rate" width="320" height="90"></canvas><figcaption>requests/s: <span id="rate-now">-</span></figcaption></figure>
<figure><canvas id="latency" width="320" height="90"></canvas><figcaption>mean latency (ms): <span id="latency-now">-</span></figcaption></figure>
</div>
<h2>Workers</h2>
<table><thead><tr><th>id</th><th>pid</th><th>state</th><th>requests</th><th>RSS (MiB)</th><th>current request</th><th>age (s)</th></tr></thead>
<tbody id="workers"></tbody></table>
<h2>Listeners</h2>
<table><thead><tr><th>socket</th><th>queue</th><th>max</th></tr></thead><tbody id="listeners"></tbody></table>
<h2>Last respawns</h2>
<table><thead><tr><th>when</th><th>worker</th><th>pid replaced</th><th>cause</th></tr></thead><tbody id="respawns"></tbody></table>
<script>
"use strict";
const history = {rate: [], latency: []}, KEEP = 60;
let last = null;
function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; }
function draw(id, values) {
  const c = document.getElementById(id), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(1e-9, ...values);
  g.strokeStyle = "#36c"; g.lineWidth = 1.5; g.beginPath();
  values.forEach((v, i) => {
    const x = c.width - (values.length - 1 - i) * (c.width / (KEEP - 1));
    const y = c.height - 4 - (v / max) * (c.height - 8);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke(); g.fillStyle = "#555"; g.fillText(max.toFixed(max < 10 ? 2 : 0), 4, 12);
}
function push(name, value) { history[name].push(value); if (history[name].length > KEEP) history[name].shift(); }
function show(s) {
  document.getElementById("version").textContent = s.version;
  document.getElementById("pid").textContent = s.pid;
  document.getElementById("generation").textContent = s.generation;
  document.getElementById("total-requests").textContent = s.requests;
  document.getElementById("queue").textContent = s.listeners.reduce((a, l) => a + l.queue, 0);
  document.getElementById("updated").textContent = new Date(s.now_ms).toLocaleTimeString();
  if (last && s.now_ms > last.now_ms) {
    const dn = Math.max(0, s.requests - last.requests);
    push("rate", dn * 1000 / (s.now_ms - last.now_ms));
    push("latency", dn ? (s.duration_us - last.duration_us) / dn / 1000 : 0);
    document.getElementById("rate-now").textContent = history.rate[history.rate.length - 1].toFixed(1);
    document.getElementById("latency-now").textContent = history.latency[history.latency.length - 1].toFixed(2);
    draw("rate", history.rate); draw("latency", history.latency);
  }
  last = s;
  const workers = document.getElementById("workers"); workers.textContent = "";
  for (const w of s.workers) {
    const row = workers.insertRow(); row.className = "worker"; row.dataset.id = w.id;
    const cur = w.current[0];
    cell(row, w.id); cell(row, w.pid, "num"); cell(row, w.state, w.state);
    cell(row, w.requests, "num requests"); cell(row, (w.rss / 1048576).toFixed(1), "num");
    cell(row, cur ? cur.what : ""); cell(row, cur ? (cur.age_ms / 1000).toFixed(1) : "", "num");
  }
  const listeners = document.getElementById("listeners"); listeners.textContent = "";
  for (const l of s.listeners) { const row = listeners.insertRow(); cell(row, l.name); cell(row, l.queue, "num"); cell(row, l.max, "num"); }
  const respawns = document.getElementById("respawns"); respawns.textContent = "";
  for (const r of s.respawns) {
    const row = respawns.insertRow(); row.className = "respawn";
    cell(row, new Date(r.at_ms).toLocaleTimeString()); cell(row, r.worker); cell(row, r.pid, "num"); cell(row, r.cause);
  }
}
async function tick() {
  try {
    const response = await fetch("status.json", {cache: "no-store"});
    show(await response.json());
    document.body.dataset.polls = Number(document.body.dataset.polls || 0) + 1;
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "(" + e + ")";
  }
  setTimeout(tick, 1000);
}
tick();
</script></body></html>
"##;
