// The hive inspector: polls this node's /api once a second and redraws in
// place. Only one page of actors is ever in the DOM, so a node of 100 000
// actors costs the browser what a node of 50 does. History for the charts
// lives here, in the page: the node keeps none.
"use strict";

const POLL_MS = 1000;
const HISTORY = 300; // points kept: five minutes at one a second
const PAGE = 50;
const TREE_CHILDREN = 200; // children shown per supervisor
const RECENT_MS = 60000; // a restart this recent is highlighted
const COLORS = ["#c27c0e", "#2e6fba", "#2e8b57", "#8e44ad", "#c0392b"];

const state = {
  token: sessionStorage.getItem("hive-token") || "",
  sort: "mailbox_len",
  ascending: false, // clicking the sorted column again turns it over
  offset: 0,
  filter: "",
  total: 0,
  selected: null, // the pid shown in the detail panel
  selectedEnded: false, // it has ended: no more asking for it
  selectedHistory: [],
  rate: [], // [time ms, messages per second]
  lastNode: null, // {t, messages, workers}
  mailboxes: new Map(), // pid -> [[time, length]]
  collapsed: new Set(), // tree paths the user folded
  restarts: new Map(), // tree path -> {count, changed: time}
  stopped: false,
  since: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

// ---- talking to the node ---------------------------------------------------

class Unauthorized extends Error {}

async function api(path, options) {
  const headers = {};
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const r = await fetch(path, Object.assign({ headers, cache: "no-store" }, options || {}));
  if (r.status === 401) throw new Unauthorized((await r.json()).error);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return { body, total: Number(r.headers.get("X-Total-Count") || 0) };
}

// ---- formatting --------------------------------------------------------------

function count(n) {
  return Number(n).toLocaleString("en-US");
}

function duration(ns) {
  if (ns >= 1e9) return (ns / 1e9).toFixed(2) + " s";
  if (ns >= 1e6) return (ns / 1e6).toFixed(1) + " ms";
  if (ns >= 1e3) return (ns / 1e3).toFixed(0) + " µs";
  return ns + " ns";
}

function field(key, value) {
  if (typeof value === "number" && key.endsWith("_ns")) return duration(value);
  if (typeof value === "number" && key.endsWith("_bytes")) return (value / 1048576).toFixed(1) + " MiB";
  if (typeof value === "number") return count(value);
  if (value === "") return "–";
  return String(value);
}

// ---- charts (SVG polylines) --------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function drawChart(svg, series, now) {
  const w = 400, h = svg.viewBox.baseVal.height, top = 14;
  svg.replaceChildren();
  let max = 1, oldest = now;
  for (const s of series)
    for (const [t, v] of s.points) {
      max = Math.max(max, v);
      oldest = Math.min(oldest, t);
    }
  // The window grows with the history, from 10 s to five minutes.
  const span = Math.min(HISTORY * POLL_MS, Math.max(10000, now - oldest));
  const x = (t) => w - ((now - t) / span) * w;
  const y = (v) => h - 2 - (v / max) * (h - top - 4);
  const axis = document.createElementNS(SVG, "line");
  axis.setAttribute("x1", 0), axis.setAttribute("x2", w);
  axis.setAttribute("y1", y(max)), axis.setAttribute("y2", y(max));
  axis.setAttribute("class", "axis");
  svg.append(axis);
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", 4), label.setAttribute("y", 11);
  label.textContent = "max " + count(Math.round(max)) + ", last " + Math.round(span / 1000) + " s";
  svg.append(label);
  for (const s of series) {
    if (s.points.length === 0) continue;
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", s.points.map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", s.color);
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(line);
  }
}

function keep(points, point) {
  points.push(point);
  while (points.length > HISTORY) points.shift();
}

// ---- the node's totals and workers -------------------------------------------

function showNode(reply, now) {
  const n = reply.node;
  $("node-title").textContent = "node " + n.node_id;
  document.title = "hive node " + n.node_id;
  $("t-actors").textContent = count(n.actors_alive);
  $("t-messages").textContent = count(n.messages);
  $("t-dead").textContent = count(n.dead_letters);
  $("t-dropped").textContent = count(n.dropped);
  $("t-restarts").textContent = count(n.restarts);
  $("t-spawned").textContent = count(n.actors_spawned) + " / " + count(n.actors_exited);
  const last = state.lastNode;
  if (last && now > last.t) {
    const rate = ((n.messages - last.messages) * 1000) / (now - last.t);
    $("t-rate").textContent = count(Math.round(rate));
    keep(state.rate, [now, rate]);
    const body = $("workers").tBodies[0];
    body.replaceChildren();
    for (const w of reply.workers) {
      const before = last.workers[w.index];
      const busy = before ? Math.min(1, (w.busy_ns - before.busy_ns) / ((now - last.t) * 1e6)) : 0;
      const fill = el("div");
      fill.style.width = Math.max(0, busy * 100).toFixed(1) + "%";
      body.append(
        el("tr", {},
          el("td", {}, (w.blocking ? "blocking " : "worker ") + w.index),
          el("td", {}, el("div", { class: "bar" }, fill)),
          el("td", { class: "num" }, (busy * 100).toFixed(0) + "%"))
      );
    }
  }
  state.lastNode = { t: now, messages: n.messages, workers: reply.workers };
  drawChart($("chart-rate"), [{ points: state.rate, color: COLORS[1] }], now);
}

// ---- the actors table ----------------------------------------------------------

function actorsQuery() {
  const q = new URLSearchParams({ offset: state.offset, limit: PAGE });
  if (state.sort !== "pid") q.set("sort", state.sort);
  if (state.ascending) q.set("order", "asc");
  if (state.filter) q.set("filter", state.filter);
  return "/api/actors?" + q;
}

// offset: the one the rows were asked for, which a click may have moved on
// since; the page label tells what the rows are.
function showActors(actors, total, offset) {
  state.total = total;
  const body = $("actors").tBodies[0];
  body.replaceChildren();
  for (const a of actors) {
    const row = el("tr", { "data-pid": a.pid },
      el("td", {}, a.pid),
      el("td", {}, a.name || ""),
      el("td", {}, a.behaviour),
      el("td", {}, a.state),
      el("td", { class: "num mailbox" + (a.mailbox_len > 0 && a.mailbox_len >= 1000 ? " hot" : "") }, count(a.mailbox_len)),
      el("td", { class: "num" }, count(a.mailbox_hwm)),
      el("td", { class: "num" }, count(a.processed)),
      el("td", { class: "num" }, count(a.dropped)),
      el("td", { class: "num" }, duration(a.handler_ns)),
      el("td", { class: "num" }, count(a.restarts)));
    if (a.pid === state.selected) row.classList.add("selected");
    row.addEventListener("click", () => select(a.pid));
    body.append(row);
  }
  const first = total === 0 ? 0 : offset + 1;
  $("page").textContent = count(first) + "–" + count(offset + actors.length) + " of " + count(total);
  $("actors-count").textContent = count(total) + (state.filter ? " matching" : "");
  $("prev").disabled = state.offset === 0;
  $("next").disabled = state.offset + PAGE >= total;
  for (const th of document.querySelectorAll("#actors th[data-sort]")) {
    th.classList.toggle("sorted", th.dataset.sort === state.sort);
    th.classList.toggle("asc", th.dataset.sort === state.sort && (state.ascending || state.sort === "pid"));
  }
}

// The five longest mailboxes now, and their history.
function showMailboxes(top, now) {
  const shown = new Set();
  for (const a of top) {
    // An empty mailbox joins no chart; one that had a line keeps it, at 0.
    if (a.mailbox_len === 0 && !state.mailboxes.has(a.pid)) continue;
    shown.add(a.pid);
    if (!state.mailboxes.has(a.pid))
      state.mailboxes.set(a.pid, { label: a.name ? a.name + " " + a.pid : a.pid, points: [] });
    keep(state.mailboxes.get(a.pid).points, [now, a.mailbox_len]);
  }
  // Series not in the top now age out once their last point leaves the chart.
  for (const [pid, s] of state.mailboxes)
    if (!shown.has(pid) && (s.points.length === 0 || now - s.points[s.points.length - 1][0] > HISTORY * POLL_MS))
      state.mailboxes.delete(pid);
  const series = [...state.mailboxes.entries()].slice(-COLORS.length).map(([pid, s], i) =>
    ({ pid, label: s.label, points: s.points, color: COLORS[i % COLORS.length] }));
  drawChart($("chart-mailboxes"), series, now);
  $("chart-legend").replaceChildren(...series.map((s) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = s.color;
    return el("li", {}, swatch, s.label);
  }));
}

// ---- the supervision tree ------------------------------------------------------

function treeNode(n, path, now) {
  const key = path + "/" + (n.id || n.name || n.pid);
  const seen = state.restarts.get(key);
  if (!seen || n.restarts < seen.count) state.restarts.set(key, { count: n.restarts, changed: seen ? now : 0 });
  else if (n.restarts > seen.count) state.restarts.set(key, { count: n.restarts, changed: now });
  const recent = now - state.restarts.get(key).changed < RECENT_MS;
  const sup = n.type === "supervisor";
  const folded = state.collapsed.has(key);
  const li = el("li", { "data-id": n.id, "data-pid": n.pid });
  if (recent) li.classList.add("recent");
  const toggle = el("span", { class: "toggle" }, sup && n.children.length ? (folded ? "▸" : "▾") : "");
  toggle.addEventListener("click", () => {
    if (folded) state.collapsed.delete(key);
    else state.collapsed.add(key);
    refresh();
  });
  const label = el("span", { class: "node" + (sup ? " sup" : "") },
    n.id || n.name || "(top)",
    el("span", { class: "pid" }, n.pid || "not running"),
    el("span", { class: "restarts", title: "restarts" }, "↻ " + n.restarts));
  if (!n.pid) label.classList.add("stopped-child");
  if (n.pid) label.addEventListener("click", () => select(n.pid));
  li.append(toggle, label);
  if (sup && n.children.length && !folded) {
    const ul = el("ul");
    for (const c of n.children) ul.append(treeNode(c, key, now));
    if (n.children_total > n.children.length)
      ul.append(el("li", { class: "more" }, "… and " + count(n.children_total - n.children.length) + " more"));
    li.append(ul);
  }
  return li;
}

function showTree(tree, now) {
  const ul = el("ul");
  for (const root of tree) ul.append(treeNode(root, "", now));
  if (tree.length === 0) ul.append(el("li", { class: "more" }, "no supervisors"));
  $("tree").replaceChildren(ul);
}

// ---- one actor -----------------------------------------------------------------

function select(pid) {
  if (state.selected !== pid) state.selectedHistory = [];
  state.selected = pid;
  state.selectedEnded = false;
  $("detail").hidden = false;
  $("kill-result").textContent = "";
  for (const row of $("actors").tBodies[0].rows) row.classList.toggle("selected", row.dataset.pid === pid);
  refresh();
}

function showDetail(a, now) {
  $("detail-title").textContent = (a.name ? a.name + " " : "") + a.pid;
  keep(state.selectedHistory, [now, a.mailbox_len]);
  drawChart($("chart-actor"), [{ points: state.selectedHistory, color: COLORS[0] }], now);
  const body = $("detail-stats").tBodies[0];
  body.replaceChildren(...Object.entries(a).map(([k, v]) =>
    el("tr", { "data-key": k }, el("td", {}, k), el("td", { class: "num" }, field(k, v)))));
}

async function kill(pid) {
  try {
    const { body } = await api("/api/actors/" + encodeURIComponent(pid) + "/kill", { method: "POST" });
    $("kill-result").textContent = "killed " + body.pid;
  } catch (e) {
    if (e instanceof Unauthorized) askToken(e.message);
    $("kill-result").textContent = "not killed: " + e.message;
  }
  refresh();
}

// ---- when the node is gone, or wants a token ----------------------------------------

function showStopped(error) {
  if (!state.stopped) state.since = new Date();
  state.stopped = true;
  document.body.classList.add("stopped");
  $("status").className = "status down";
  $("status").textContent = "stopped";
  const b = $("stopped");
  b.hidden = false;
  b.textContent = "The node is not answering (stopped, or unreachable) since " +
    state.since.toLocaleTimeString() + ". The figures below are the last ones seen. (" + error + ")";
}

function showLive() {
  state.stopped = false;
  document.body.classList.remove("stopped");
  $("status").className = "status live";
  $("status").textContent = "live";
  $("stopped").hidden = true;
}

function askToken(why) {
  $("token-form").hidden = false;
  $("status").className = "status down";
  $("status").textContent = why;
}

// ---- the loop ------------------------------------------------------------------

let busy = false;
let again = false; // asked for while a refresh was out: one more follows it

async function refresh() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  const now = Date.now();
  const offset = state.offset; // a click meanwhile asks for another refresh (again)
  try {
    const [node, page, top, tree, detail] = await Promise.all([
      api("/api/node"),
      api(actorsQuery()),
      api("/api/actors?sort=mailbox_len&limit=" + COLORS.length),
      api("/api/tree?children=" + TREE_CHILDREN),
      state.selected && !state.selectedEnded
        ? api("/api/actors/" + encodeURIComponent(state.selected)).catch((e) => e)
        : null,
    ]);
    showLive();
    showNode(node.body, now);
    showActors(page.body, page.total, offset);
    showMailboxes(top.body, now);
    showTree(tree.body, now);
    if (detail instanceof Error) {
      state.selectedEnded = true;
      $("detail-title").textContent = state.selected + " (ended)";
      $("kill").disabled = true;
    } else if (detail) {
      $("kill").disabled = false;
      showDetail(detail.body, now);
    }
  } catch (e) {
    if (e instanceof Unauthorized) askToken(e.message);
    else showStopped(e.message);
  } finally {
    busy = false;
    if (again) {
      again = false;
      refresh();
    }
  }
}

function start() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    state.token = hash.get("token");
    sessionStorage.setItem("hive-token", state.token);
    history.replaceState(null, "", location.pathname); // off the screen and the history
  }
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token-input").value;
    sessionStorage.setItem("hive-token", state.token);
    $("token-form").hidden = true;
    refresh();
  });
  for (const th of document.querySelectorAll("#actors th[data-sort]"))
    th.addEventListener("click", () => {
      state.ascending = th.dataset.sort === state.sort ? !state.ascending : false;
      state.sort = th.dataset.sort;
      state.offset = 0;
      refresh();
    });
  let typing = null;
  $("filter").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.filter = $("filter").value.trim();
      state.offset = 0;
      refresh();
    }, 250);
  });
  $("prev").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - PAGE);
    refresh();
  });
  $("next").addEventListener("click", () => {
    if (state.offset + PAGE < state.total) state.offset += PAGE;
    refresh();
  });
  $("detail-close").addEventListener("click", () => {
    state.selected = null;
    $("detail").hidden = true;
  });
  $("kill").addEventListener("click", () => {
    $("confirm-pid").textContent = state.selected;
    $("confirm").returnValue = "";
    $("confirm").showModal();
  });
  $("confirm").addEventListener("close", () => {
    if ($("confirm").returnValue === "kill" && state.selected) kill(state.selected);
  });
  refresh();
  setInterval(refresh, POLL_MS);
}

start();
