"""The labelling page and the stats page: plain HTML and JavaScript, no build step."""

LABEL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prefrl: which is better?</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 760px; color: #222; }
 h1 { font-size: 1.2em; margin: 0 0 .5em; }
 [hidden] { display: none !important; }
 #pair { display: flex; gap: 16px; justify-content: center; min-height: 300px; }
 #pair figure { margin: 0; text-align: center; }
 #pair img { width: 300px; height: 300px; image-rendering: auto; border: 3px solid #ccc; border-radius: 6px;
             background: #eee; }
 #waiting { min-height: 300px; display: flex; align-items: center; justify-content: center; text-align: center;
            background: #f4f4f4; border-radius: 6px; padding: 0 2em; font-size: 1.05em; }
 #buttons { display: flex; gap: 8px; justify-content: center; margin: 1em 0; }
 button { font-size: 1em; padding: .5em 1em; border-radius: 6px; border: 1px solid #999; background: #fafafa;
          cursor: pointer; }
 button:disabled { opacity: .4; cursor: default; }
 #counts, #note { text-align: center; margin: .4em 0; }
 #note { color: #666; min-height: 1.3em; }
 #note.error { color: #b00; }
 kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 .3em; font-size: .85em; }
 #who { text-align: right; color: #666; font-size: .9em; }
</style></head>
<body>
<div id="who"></div>
<h1>Which clip shows the agent doing the task better?</h1>
<form id="nameform" hidden>
 <p>Your name (letters, digits, <code>_ . -</code>): it keeps your labels apart from other people's.</p>
 <input id="name" required pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{0,39}" autofocus> <button>Start</button>
</form>
<div id="main" hidden>
 <div id="pair" hidden>
  <figure><img id="left" alt="left clip"><figcaption>left</figcaption></figure>
  <figure><img id="right" alt="right clip"><figcaption>right</figcaption></figure>
 </div>
 <div id="waiting">Loading...</div>
 <div id="buttons">
  <button data-choice="left">&larr; Left is better</button>
  <button data-choice="equal">&uarr; Equal</button>
  <button data-choice="skip">&darr; Can't tell</button>
  <button data-choice="right">Right is better &rarr;</button>
  <button id="undo">Undo (<kbd>u</kbd>)</button>
 </div>
 <div id="counts"></div>
 <div id="note"></div>
</div>
<script>
const params = new URLSearchParams(location.search);
const token = params.get("token");
const withToken = (u) => token ? u + (u.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token) : u;
let labeler = params.get("labeler") || localStorage.getItem("prefrl-labeler");
let current = null, busy = false, pollTimer = null, pressedAt = null;
window.lastSwapMs = null;
const $ = (id) => document.getElementById(id);
const KEYS = {ArrowLeft: "left", ArrowRight: "right", ArrowUp: "equal", ArrowDown: "skip"};

function note(text, error) { $("note").textContent = text; $("note").className = error ? "error" : ""; }

async function call(method, path, body) {
  const opts = {method, headers: {"Content-Type": "application/json"}};
  if (token) opts.headers["X-Token"] = token;
  if (body) opts.body = JSON.stringify(body);
  const r = await fetch(withToken(path), opts);
  const data = await r.json().catch(() => ({detail: r.statusText}));
  if (!r.ok) throw new Error(data.detail || r.statusText);
  return data;
}

function show(state) {
  current = state.query;
  $("counts").textContent = `labels given: ${state.given} of ${state.budget} (still wanted: ${state.wanted}; ` +
    `the trainer waits for ${state.pretrain} before RL starts) \\u00b7 yours: ${state.mine}`;
  const buttons = document.querySelectorAll("#buttons button[data-choice]");
  buttons.forEach((b) => b.disabled = !current);
  if (current) {
    const left = $("left"), right = $("right");
    let loaded = 0;
    const done = () => { if (++loaded === 2 && pressedAt !== null) {
      window.lastSwapMs = performance.now() - pressedAt; pressedAt = null; } };
    left.onload = done; right.onload = done;
    left.src = withToken(current.left); right.src = withToken(current.right);
    $("pair").dataset.query = current.id;
    $("pair").hidden = false; $("waiting").hidden = true;
    if (state.upcoming) [state.upcoming.left, state.upcoming.right].forEach((u) => { new Image().src = withToken(u); });
  } else {
    $("pair").hidden = true; $("waiting").hidden = false;
    $("waiting").textContent = state.message;
    delete $("pair").dataset.query;
  }
  clearTimeout(pollTimer);
  if (!current) pollTimer = setTimeout(refresh, 1000);
}

async function refresh() {
  try { show(await call("GET", "/api/next?labeler=" + encodeURIComponent(labeler))); }
  catch (e) { note(e.message, true); pollTimer = setTimeout(refresh, 2000); }
}

async function answer(choice) {
  if (!current || busy) return;
  busy = true; pressedAt = performance.now();
  const qid = current.id;
  try {
    const state = await call("POST", "/api/label", {query_id: qid, labeler, choice});
    note(`saved: ${choice} on query ${qid}`);
    show(state);
  } catch (e) { note(e.message, true); pressedAt = null; await refresh(); }
  finally { busy = false; }
}

async function undo() {
  if (busy) return;
  busy = true;
  try {
    const state = await call("POST", "/api/undo", {labeler});
    note(`undone: ${state.undone.choice} on query ${state.undone.query_id}; label it again`);
    show(state);
  } catch (e) { note(e.message, true); }
  finally { busy = false; }
}

function start() {
  $("who").innerHTML = "";
  $("who").append(`labeling as ${labeler} \\u00b7 `);
  const a = document.createElement("a"); a.href = withToken("/stats"); a.textContent = "stats";
  $("who").append(a);
  $("nameform").hidden = true; $("main").hidden = false;
  refresh();
}

document.querySelectorAll("#buttons button[data-choice]").forEach((b) =>
  b.addEventListener("click", () => answer(b.dataset.choice)));
$("undo").addEventListener("click", undo);
document.addEventListener("keydown", (e) => {
  if (!labeler || e.target.tagName === "INPUT") return;
  if (KEYS[e.key]) { e.preventDefault(); answer(KEYS[e.key]); }
  else if (e.key === "u" || e.key === "Backspace" || (e.key === "z" && (e.ctrlKey || e.metaKey))) {
    e.preventDefault(); undo(); }
});
$("nameform").addEventListener("submit", (e) => {
  e.preventDefault(); labeler = $("name").value; localStorage.setItem("prefrl-labeler", labeler); start();
});
if (labeler) start(); else $("nameform").hidden = false;
</script>
</body></html>
"""

STATS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prefrl: labelers</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 760px; color: #222; }
 table { border-collapse: collapse; margin: .5em 0 1.5em; } td, th { border-bottom: 1px solid #ddd; padding: .3em .8em; }
</style></head>
<body>
<h1>Labelers</h1>
<p id="summary"></p>
<table id="labelers"><tr><th>labeler</th><th>labels</th><th>gold answered</th><th>gold accuracy</th>
<th>left / right / equal / can't tell</th></tr></table>
<h2>Agreement where a query got several answers</h2>
<p id="agreement"></p>
<table id="pairs"><tr><th>labelers</th><th>shared queries</th><th>agreed</th></tr></table>
<p><a id="export" href="/api/labels.jsonl">all labels as JSONL</a> \\u00b7 <a id="back" href="/">label</a></p>
<script>
const token = new URLSearchParams(location.search).get("token");
const withToken = (u) => token ? u + "?token=" + encodeURIComponent(token) : u;
document.getElementById("export").href = withToken("/api/labels.jsonl");
document.getElementById("back").href = withToken("/");
const pct = (x) => x === null ? "-" : (100 * x).toFixed(0) + "%";
function row(table, cells) {
  const tr = document.createElement("tr");
  cells.forEach((c) => { const td = document.createElement("td"); td.textContent = c; tr.append(td); });
  document.getElementById(table).append(tr);
}
fetch(withToken("/api/stats")).then((r) => r.json()).then((s) => {
  document.getElementById("summary").textContent =
    `${s.labels} of ${s.budget} labels; ${s.queries} queries asked, ${s.gold_queries} of them gold`;
  s.labelers.forEach((l) => row("labelers", [l.name, l.labels, l.gold_answered, pct(l.gold_accuracy),
    ["left", "right", "equal", "skip"].map((c) => l.choices[c] || 0).join(" / ")]));
  const a = s.agreement;
  document.getElementById("agreement").textContent =
    `${a.queries_with_several_answers} queries with several answers; all agreed on ${a.all_agreed} (${pct(a.rate)})`;
  a.pairs.forEach((p) => row("pairs", [p.labelers.join(" & "), p.shared, `${p.agreed} (${pct(p.rate)})`]));
});
</script>
</body></html>
"""
