// Sattva live dashboard: an initial snapshot from /api/state, then the monitoring
// WebSocket (authenticated by the admin session cookie); the history and cluster sections
// from /api/history and /api/cluster.  No build step, no libraries.
"use strict";

const HISTORY_SECONDS = 600;
const state = {
  chats: new Map(), cpu: [], mem: [], warnings: new Map(), interval: 5, streams: null, activeTotal: 0,
  events: [], engine: null,
};
const $ = (id) => document.getElementById(id);

function fmtTime(s) {
  if (s == null || !isFinite(s)) return "–";
  s = Math.max(0, Math.floor(s));
  const m = Math.floor(s / 60), sec = String(s % 60).padStart(2, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

function livePosition(c) {
  if (c.position == null) return null;
  if (c.state !== "playing") return c.position;
  return c.position + (Date.now() / 1000 - c.at);
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

function chatName(chatId) {
  const c = state.chats.get(chatId);
  return c && c.chat_title ? c.chat_title : `chat ${chatId}`;
}

function button(label, action, chatId, extra, cls) {
  const b = el("button", cls || "", label);
  b.type = "button";
  b.dataset.action = action;
  b.addEventListener("click", () => act(chatId, action, extra));
  return b;
}

function showProgress(card, c) {
  const pos = livePosition(c);
  card.querySelector(".bar > div").style.width = (c.duration ? Math.min(100, (100 * (pos || 0)) / c.duration) : 0) + "%";
  card.querySelector(".meta").textContent =
    `${fmtTime(pos)} / ${fmtTime(c.duration)} · listeners ${c.listeners ?? "?"} · queued ${c.queued}`;
}

// every second: only the moving parts, so buttons are not replaced under the pointer
function tick() {
  for (const card of document.querySelectorAll("#chats .chat")) {
    const c = state.chats.get(Number(card.dataset.chat));
    if (c) showProgress(card, c);
  }
  renderWarnings();
}

// the track's thumbnail when it has a web address; else a tile with its initial, coloured
// from the title (Telegram files have no public picture URL)
function cover(c) {
  const thumb = c.track && c.track.thumbnail;
  if (thumb && /^https?:\/\//.test(thumb)) {
    const img = el("img", "cover");
    img.src = thumb; img.alt = ""; img.loading = "lazy"; img.referrerPolicy = "no-referrer";
    return img;
  }
  const title = c.title || "";
  let hash = 0;
  for (const ch of title) hash = (hash * 31 + ch.codePointAt(0)) % 360;
  const tile = el("div", "cover tile", title ? [...title][0].toUpperCase() : "♪");
  tile.style.background = `hsl(${hash} 45% 45%)`;
  tile.setAttribute("aria-hidden", "true");
  return tile;
}

function chatCard(c) {
  const card = el("article", "chat" + (c.errors ? " has-errors" : ""));
  card.dataset.chat = c.chat_id;
  const head = el("div", "head");
  const name = c.chat_title || `chat ${c.chat_id}`;
  if (c.chat_link) {
    const a = el("a", "name", name);
    a.href = c.chat_link; a.target = "_blank"; a.rel = "noopener noreferrer";
    head.append(a);
  } else {
    head.append(el("span", "name", name));
  }
  if (c.chat_title) head.append(el("span", "id", String(c.chat_id)));
  head.append(el("span", `badge ${c.state}`, c.state));
  const t = c.track || {};
  if (t.kind) head.append(el("span", `badge kind ${t.kind}`, t.kind));
  if (t.quality) head.append(el("span", "badge quality", t.quality));
  if (t.is_live) head.append(el("span", "badge", "live"));
  if (c.errors) head.append(el("span", "badge err", `${c.errors} error${c.errors > 1 ? "s" : ""}`));
  card.append(head);

  const now = el("div", "now");
  now.append(cover(c));
  now.append(el("div", "title", c.title || "—"));
  card.append(now);

  const bar = el("div", "bar");
  bar.append(el("div"));
  card.append(bar, el("div", "meta"));
  showProgress(card, c);

  const where = [["engine", c.placement.engine || state.engine], ["assistant", c.placement.assistant], ["node", c.placement.node]]
    .filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(" · ");
  if (where) card.append(el("div", "where", where));

  if (c.next.length) {
    const list = el("ol", "queue");
    for (const t of c.next) {
      const li = el("li");
      li.dataset.track = t.track_id;
      li.append(el("span", "", t.title));
      li.append(button("✕", "remove", c.chat_id, { track_id: t.track_id }, "danger"));
      li.lastChild.title = `Remove “${t.title}” from the queue`;
      list.append(li);
    }
    card.append(list);
    if (c.queued > c.next.length) card.append(el("div", "more", `and ${c.queued - c.next.length} more`));
  }

  const controls = el("div", "controls");
  if (c.state === "paused") controls.append(button("Resume", "resume", c.chat_id));
  else controls.append(button("Pause", "pause", c.chat_id));
  controls.append(button("Skip", "skip", c.chat_id));
  controls.append(button("Stop", "stop", c.chat_id, null, "danger"));
  card.append(controls);
  return card;
}

function renderChats() {
  const box = $("chats");
  // chats with recent errors first, then by name
  const chats = [...state.chats.values()].sort((a, b) =>
    (b.errors - a.errors) || chatName(a.chat_id).localeCompare(chatName(b.chat_id)) || a.chat_id - b.chat_id);
  if (!chats.length) {
    box.innerHTML = '<p class="empty">Nothing is playing.</p>';
  } else {
    box.replaceChildren(...chats.map(chatCard));
  }
  renderTotals();
}

// the player's running totals (every chat), from the last snapshot or metrics_update
function renderTotals() {
  const t = state.streams, shown = state.chats.size;
  if (t) {
    const more = state.activeTotal > shown ? ` (showing ${shown})` : "";
    $("totals").textContent = `${t.active} active · ${t.listeners} listeners · ${t.queued} queued${more}`;
  }
}

function notice(text, bad) {
  const n = $("notice");
  n.textContent = text; n.hidden = false; n.className = bad ? "bad" : "";
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { n.hidden = true; }, 6000);
}

async function act(chatId, action, extra) {
  if (action === "stop" && !confirm(`Stop ${chatName(chatId)} and clear its queue?`)) return;
  const body = new FormData();
  for (const [k, v] of Object.entries(extra || {})) body.append(k, v);
  const r = await fetch(`/api/chats/${chatId}/${action}`, { method: "POST", body, credentials: "same-origin" });
  if (r.status === 401) { location.href = "/admin/login"; return; }
  let answer = {};
  try { answer = await r.json(); } catch (e) { answer = { error: `${r.status} ${r.statusText}` }; }
  notice(answer.message || answer.error || `${action}: ${r.status}`, !r.ok);
  refresh();
}

function describe(e) {
  const d = e.data || {};
  switch (e.event) {
    case "track_change": return `now playing “${d.title}”${d.reason ? ` (${d.reason})` : ""}`;
    case "stream_status": return `stream ${d.state}${d.reason ? ` (${d.reason})` : ""}${d.error ? `: ${d.error}` : ""}`;
    case "auto_end_warning": return `will end in ${fmtTime(d.seconds_left)} (nobody listening)`;
    case "system_alert": return `alert: ${d.kind || ""}${d.code ? ` ${d.code}` : ""}${d.message ? ` — ${d.message}` : ""}`;
    default: return e.event;
  }
}

function renderEvents() {
  const kind = $("event-kind").value, needle = $("event-chat").value.trim().toLowerCase();
  const shown = state.events.filter((e) => {
    if (kind === "problem" ? !e.problem : kind && e.event !== kind) return false;
    if (!needle) return true;
    return e.chat_id != null && (String(e.chat_id).includes(needle) || chatName(e.chat_id).toLowerCase().includes(needle));
  }).slice(-100).reverse();
  const list = $("events");
  if (!shown.length) { list.replaceChildren(el("li", "empty", "No events yet.")); return; }
  list.replaceChildren(...shown.map((e) => {
    const li = el("li", e.problem ? "problem" : "");
    li.dataset.event = e.event;
    li.append(el("time", "", new Date(e.timestamp * 1000).toLocaleTimeString()));
    li.append(document.createTextNode(`${e.chat_id != null ? chatName(e.chat_id) + ": " : ""}${describe(e)}`));
    return li;
  }));
}

const LISTED = new Set(["track_change", "stream_status", "auto_end_warning", "system_alert"]);
function isProblem(e) {
  const d = e.data || {};
  return e.event === "system_alert" || (e.event === "stream_status" && (d.state === "error" || d.reason === "error" || d.reason === "failures"));
}

function renderWarnings() {
  const box = $("warnings");
  const now = Date.now() / 1000;
  box.replaceChildren(...[...state.warnings.entries()]
    .filter(([, w]) => w.until > now)
    .map(([chat, w]) => {
      const el = document.createElement("div");
      el.className = "warning";
      el.textContent = `${chatName(chat)}: the stream will end automatically in ${fmtTime(w.until - now)} (${w.reason}).`;
      return el;
    }));
}

function drawChart(canvas, points, color) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#e3e6ec"; ctx.fillStyle = "#5b6475"; ctx.font = "10px sans-serif";
  for (const v of [0, 50, 100]) {
    const y = h - pad / 2 - (v / 100) * (h - pad);
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillText(String(v), 2, y + 3);
  }
  if (points.length < 2) return;
  const now = Date.now() / 1000, x0 = now - HISTORY_SECONDS;
  ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
  points.forEach(([t, v], i) => {
    const x = pad + ((t - x0) / HISTORY_SECONDS) * (w - pad);
    const y = h - pad / 2 - (Math.min(100, v) / 100) * (h - pad);
    i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  });
  ctx.stroke();
}

function pushFigures(f, t) {
  if (!f || !f.system) return;
  if (f.streams) { state.streams = f.streams; renderTotals(); }
  const cut = t - HISTORY_SECONDS;
  state.cpu.push([t, f.system.cpu_percent]); state.mem.push([t, f.system.memory_percent]);
  state.cpu = state.cpu.filter(([x]) => x >= cut); state.mem = state.mem.filter(([x]) => x >= cut);
  $("cpu-now").textContent = `${f.system.cpu_percent.toFixed(1)}`;
  $("mem-now").textContent = `${f.system.memory_percent.toFixed(1)}`;
  drawChart($("cpu"), state.cpu, "#3b5bdb");
  drawChart($("mem"), state.mem, "#2f9e44");
}

// History: per-hour buckets from the rollup table (server side; survives reloads).
let historyPoints = [];
async function loadHistory() {
  clearTimeout(historyTimer);
  historyTimer = null;
  const range = $("history-range").value;
  let wait = 60;
  try {
    const r = await fetch(`/api/history?range=${range}`, { credentials: "same-origin", cache: "no-store" });
    if (r.ok) {
      const body = await r.json();
      historyPoints = body.points;
      wait = Math.min(60, Math.max(1, body.sample_seconds || 60));
      renderHistory();
    }
  } finally {
    historyTimer = setTimeout(loadHistory, wait * 1000);
  }
}
let historyTimer = null;
function scheduleHistory() {
  clearTimeout(historyTimer);
  historyTimer = setTimeout(loadHistory, 1000);
}

function renderHistory() {
  const points = historyPoints;
  const sum = (k) => points.reduce((n, p) => n + p[k], 0);
  const peak = (k) => points.reduce((n, p) => Math.max(n, p[k]), 0);
  const n = (v, word) => `${v} ${word}${v === 1 ? "" : "s"}`;
  $("history-sum").textContent = `${n(sum("plays"), "play")} · ${n(sum("failures"), "failure")}`;
  $("live-sum").textContent = `peak ${n(peak("streams"), "stream")} · peak ${n(peak("listeners"), "listener")}`;
  drawSeries($("history"), points, [
    { key: "plays", color: "#3b5bdb", bar: true },
    { key: "failures", color: "#e03131", bar: true },
  ]);
  drawSeries($("live-history"), points, [
    { key: "listeners", color: "#f08c00" },
    { key: "listeners_avg", color: "#f08c00", dash: true },
    { key: "streams", color: "#2f9e44" },
    { key: "streams_avg", color: "#2f9e44", dash: true },
  ]);
}

function hourLabel(t, long) {
  const d = new Date(t * 1000);
  return long ? `${d.getMonth() + 1}/${d.getDate()} ${d.getHours()}:00` : `${d.getHours()}:00`;
}

// bars and lines over hourly points on one scale; pointer hover names the hour's values
function drawSeries(canvas, points, series) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28, n = points.length;
  ctx.clearRect(0, 0, w, h);
  if (!n) return;
  const top = Math.max(1, ...points.flatMap((p) => series.map((s) => p[s.key])));
  const y = (v) => h - 14 - (v / top) * (h - 22);
  ctx.strokeStyle = "#e3e6ec"; ctx.fillStyle = "#5b6475"; ctx.font = "10px sans-serif";
  for (const v of [0, top / 2, top]) {
    ctx.beginPath(); ctx.moveTo(pad, y(v)); ctx.lineTo(w, y(v)); ctx.stroke();
    ctx.fillText(String(Math.round(v * 10) / 10), 2, y(v) + 3);
  }
  const step = (w - pad) / n, bars = series.filter((s) => s.bar);
  const bw = Math.max(1, (step * 0.8) / Math.max(1, bars.length));
  points.forEach((p, i) => bars.forEach((s, j) => {
    ctx.fillStyle = s.color;
    const x = pad + i * step + j * bw;
    ctx.fillRect(x, y(p[s.key]), bw, y(0) - y(p[s.key]));
  }));
  for (const s of series.filter((s) => !s.bar)) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.setLineDash(s.dash ? [4, 3] : []);
    ctx.beginPath();
    points.forEach((p, i) => { const x = pad + (i + 0.5) * step; i ? ctx.lineTo(x, y(p[s.key])) : ctx.moveTo(x, y(p[s.key])); });
    ctx.stroke();
  }
  ctx.setLineDash([]); ctx.lineWidth = 1; ctx.fillStyle = "#5b6475";
  for (const i of [0, Math.floor(n / 2), n - 1]) {
    ctx.fillText(hourLabel(points[i].hour, n > 48), Math.min(w - 60, pad + i * step), h - 1);
  }
  canvas.dataset.points = String(n);
  canvas.onmousemove = (e) => {
    const r = canvas.getBoundingClientRect();
    const i = Math.floor((((e.clientX - r.left) * w) / r.width - pad) / step);
    const p = points[Math.max(0, Math.min(n - 1, i))];
    canvas.title = `${hourLabel(p.hour, true)}: ` + series.map((s) => `${s.key.replace("_avg", " avg")} ${p[s.key]}`).join(", ");
  };
}

// Cluster: nodes, the assistants each holds (lease token and time left), their chats.
async function loadCluster() {
  const r = await fetch("/api/cluster", { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) return;
  renderCluster(await r.json());
}

function secs(v) { return v == null ? null : `${v < 10 ? v.toFixed(1) : Math.round(v)} s`; }

function chatList(ids) {
  const shown = ids.slice(0, 5).map(chatName).join(", ");
  return ids.length > 5 ? `${shown} and ${ids.length - 5} more` : shown;
}

function renderCluster(c) {
  $("cluster-sum").textContent = c.mode === "single"
    ? `one process · ${c.chats_total} chats with a queue`
    : `${c.nodes.length} node${c.nodes.length === 1 ? "" : "s"} · ${c.chats_total} chats with a queue`;
  const byName = new Map(c.assistants.map((a) => [a.name, a]));
  const assistantLine = (a) => {
    const li = el("li", "assistant");
    li.dataset.assistant = a.name;
    li.append(el("strong", "", a.name));
    const bits = [`${a.chats.length} chat${a.chats.length === 1 ? "" : "s"}`];
    if (a.token != null) bits.push(`lease #${a.token}`);
    if (a.lease_expires_in != null) bits.push(`renews within ${secs(a.lease_expires_in)}`);
    li.append(document.createTextNode(` · ${bits.join(" · ")}`));
    if (a.chats.length) li.append(el("div", "chats", chatList(a.chats)));
    return li;
  };
  const cards = c.nodes.map((n) => {
    const card = el("article", "node" + (n.this ? " this" : ""));
    card.dataset.node = n.node;
    const head = el("div", "head");
    head.append(el("span", "name", n.node));
    if (n.this) head.append(el("span", "badge", "this node"));
    if (n.expires_in != null) head.append(el("span", "id", `heartbeat ${secs(n.expires_in)} left`));
    head.append(el("span", "id", `${n.chats} chats`));
    card.append(head);
    const list = el("ul", "assistants");
    for (const name of n.assistants) list.append(assistantLine(byName.get(name)));
    if (!n.assistants.length) list.append(el("li", "empty", "no assistant"));
    card.append(list);
    return card;
  });
  const free = c.assistants.filter((a) => a.node == null);
  if (free.length) {
    const card = el("article", "node free");
    card.append(el("div", "head", "Not held by any node"));
    const list = el("ul", "assistants");
    for (const a of free) list.append(assistantLine(a));
    card.append(list);
    cards.push(card);
  }
  if (c.unassigned_chats.length) {
    cards.push(el("p", "unassigned", `Chats without an assistant: ${chatList(c.unassigned_chats)}`));
  }
  $("cluster").replaceChildren(...cards);
}

let refreshTimer = null;
async function refresh() {
  refreshTimer = null;
  const r = await fetch("/api/state", { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) { location.href = "/admin/login"; return; }
  if (!r.ok) return;
  const body = await r.json();
  state.interval = body.metrics_interval_seconds || state.interval;
  state.chats = new Map(body.chats.map((c) => [c.chat_id, c]));
  state.activeTotal = body.active_total;
  state.engine = body.engine;
  state.events = body.events;
  renderChats();
  renderEvents();
  pushFigures(body.figures, Date.now() / 1000);
  loadCluster();
}
function scheduleRefresh() {
  if (refreshTimer === null) refreshTimer = setTimeout(refresh, 150);
}

function onEvent(msg) {
  if (LISTED.has(msg.event)) {
    state.events.push({ ...msg, problem: isProblem(msg) });
    if (state.events.length > 200) state.events.shift();
    renderEvents();
  }
  switch (msg.event) {
    case "metrics_update":
      pushFigures(msg.data, msg.timestamp);
      break;
    case "auto_end_warning": {
      const secs = Number(msg.data.seconds_left ?? 60);
      state.warnings.set(msg.chat_id, { until: msg.timestamp + secs, reason: msg.data.reason || "nobody listening" });
      renderWarnings();
      break;
    }
    case "track_change":
      scheduleHistory();
    // falls through
    case "queue_update":
    case "stream_status":
    case "listeners_update":
      if (msg.event !== "listeners_update") state.warnings.delete(msg.chat_id);
      scheduleRefresh();
      break;
    case "error":
      console.warn("monitoring:", msg.data.error);
      break;
  }
}

function connect(delay) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/monitoring`);
  let ping = null;
  ws.onopen = () => {
    $("conn").textContent = "live"; $("conn").className = "conn on";
    ping = setInterval(() => ws.send("ping"), 20000);
    delay = 1000;
    refresh();
  };
  ws.onmessage = (e) => { if (e.data !== "pong") onEvent(JSON.parse(e.data)); };
  ws.onclose = () => {
    clearInterval(ping);
    refresh(); // sends the browser to the login page when the session has ended
    $("conn").textContent = "reconnecting…"; $("conn").className = "conn off";
    setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
  };
}

$("event-kind").addEventListener("change", renderEvents);
$("history-range").addEventListener("change", loadHistory);
loadHistory();
$("event-chat").addEventListener("input", renderEvents);
setInterval(tick, 1000);
setInterval(loadCluster, 10000);
refresh().then(() => connect(1000));
