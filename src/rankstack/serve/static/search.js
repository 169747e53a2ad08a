// rankstack search page: plain JavaScript, no build step. Document text is only ever inserted
// as text nodes (never as HTML), so highlighting cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const NONE = "";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// The snippet as text nodes with <mark> around the [start, end) spans the service found.
function highlighted(text, spans) {
  const frag = document.createDocumentFragment();
  let at = 0;
  const sorted = (spans || []).slice().sort((a, b) => a[0] - b[0]);
  for (const [start, end] of sorted) {
    if (start < at || end > text.length) continue;
    if (start > at) frag.appendChild(document.createTextNode(text.slice(at, start)));
    frag.appendChild(el("mark", null, text.slice(start, end)));
    at = end;
  }
  if (at < text.length) frag.appendChild(document.createTextNode(text.slice(at)));
  return frag;
}

// "bm25 #7 (12.31) → lambdamart #2 (1.05)"
function stageLine(stages) {
  const line = el("div", "stages");
  stages.forEach((s, i) => {
    if (i > 0) {
      const prev = stages[i - 1].rank;
      const arrow = el("span", prev && s.rank ? (s.rank < prev ? "up" : s.rank > prev ? "down" : "") : "", " → ");
      line.appendChild(arrow);
    }
    const where = s.rank === null ? "–" : `#${s.rank}`;
    const score = s.score === null ? "" : ` (${Number(s.score).toFixed(3)})`;
    line.appendChild(el("span", "stage", `${s.stage} ${where}${score}`));
  });
  return line;
}

function renderPanel(panel, info, data, otherRanks) {
  panel.replaceChildren();
  panel.appendChild(el("h2", null, info.name));
  panel.appendChild(el("div", "expr", info.expression));
  if (!data) return;
  panel.appendChild(el("div", "stats",
    `${data.results.length} results · ${data.candidates} candidates · ${data.took_ms.toFixed(1)} ms · generation ${data.generation}`));
  const list = el("ol", "results");
  for (const r of data.results) {
    const item = el("li", "result");
    item.dataset.docid = r.docid;
    const head = el("div", "head");
    head.appendChild(el("span", "rank", `#${r.rank}`));
    head.appendChild(el("span", "docid", r.docid));
    head.appendChild(el("span", "score", Number(r.score).toFixed(4)));
    item.appendChild(head);
    if (r.title) item.appendChild(el("div", "title", r.title));
    if (r.snippet) {
      const p = el("p", "snippet");
      p.appendChild(highlighted(r.snippet, r.highlights));
      item.appendChild(p);
    }
    if (r.stages.length > 1) item.appendChild(stageLine(r.stages));
    if (otherRanks) {
      const other = otherRanks.get(r.docid);
      item.appendChild(el("div", "other", other ? `other pipeline: #${other}` : "not in the other list"));
    }
    list.appendChild(item);
  }
  panel.appendChild(list);
}

let pipelines = [];

async function loadPipelines() {
  const res = await fetch("/pipelines");
  const data = await res.json();
  pipelines = data.pipelines;
  for (const side of ["left", "right"]) {
    const select = $(side);
    select.replaceChildren();
    if (side === "right") select.appendChild(new Option("— none —", NONE));
    for (const p of pipelines) select.appendChild(new Option(p.name, p.name));
  }
  $("left").value = data.default;
  const second = pipelines.find((p) => p.name !== data.default);
  $("right").value = second ? second.name : NONE;
  updatePanels();
}

function infoOf(name) {
  return pipelines.find((p) => p.name === name);
}

function updatePanels() {
  const right = $("right").value;
  $("panel-right").hidden = right === NONE;
  renderPanel($("panel-left"), infoOf($("left").value), null);
  if (right !== NONE) renderPanel($("panel-right"), infoOf(right), null);
}

async function searchWith(name, query, k) {
  const res = await fetch("/search", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, k, pipeline: name }),
  });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

async function runSearch(event) {
  if (event) event.preventDefault();
  const query = $("query").value;
  const error = $("error");
  error.hidden = true;
  if (!query.trim()) return;
  const k = Number($("k").value);
  const names = [$("left").value, $("right").value].filter((n) => n !== NONE);
  try {
    const results = await Promise.all(names.map((n) => searchWith(n, query, k)));
    const ranks = results.map((d) => new Map(d.results.map((r) => [r.docid, r.rank])));
    renderPanel($("panel-left"), infoOf(names[0]), results[0], results.length > 1 ? ranks[1] : null);
    if (names.length > 1) renderPanel($("panel-right"), infoOf(names[1]), results[1], ranks[0]);
    document.body.dataset.state = "done";
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    document.body.dataset.state = "error";
  }
}

function onPipelineChange() {
  updatePanels();
  if ($("query").value.trim()) runSearch();
}

$("search-form").addEventListener("submit", runSearch);
$("left").addEventListener("change", onPipelineChange);
$("right").addEventListener("change", onPipelineChange);
$("k").addEventListener("change", () => { if ($("query").value.trim()) runSearch(); });
loadPipelines().catch((err) => { $("error").textContent = err.message; $("error").hidden = false; });
