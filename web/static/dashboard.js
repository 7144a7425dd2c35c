// Sattva live dashboard: an initial snapshot from /api/state, then the monitoring
// WebSocket (authenticated by the admin session cookie); the history and cluster sections
// from /api/history and /api/cluster (history.js, cluster.js).  No build step, no libraries.
"use strict";

const HISTORY_SECONDS = 600;
const state = {
  chats: new Map(), cpu: [], mem: [], warnings: new Map(), interval: 5, streams: null, activeTotal: 0,
  events: [], engine: null, cookies: [],
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
  if (c.target && c.target.kind === "channel") {
    // a channel's stream is driven from a group (if linked): say which
    const from = c.target.group_id == null ? "" : ` · from ${c.target.group_title || `chat ${c.target.group_id}`}`;
    head.append(el("span", "badge target channel", `📢 channel${from}`));
  } else if (c.target) {
    head.append(el("span", "badge target group", "group"));
  }
  if (c.track && c.track.kind) {
    const kind = c.track.kind === "video" && c.track.quality ? `🎬 video ${c.track.quality}` : c.track.kind;
    head.append(el("span", `badge kind ${c.track.kind}`, kind));
  }
  if (c.track && c.track.is_live) head.append(el("span", "badge", "live"));
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

  const where = [["engine", c.placement.engine || c.chat_engine || state.engine], ["assistant", c.placement.assistant], ["node", c.placement.node]]
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
    case "system_alert":
      if (d.kind === "picture_lost") return `picture lost: “${d.title}” (its sound plays on)`;
      return `alert: ${d.kind || ""}${d.code ? ` ${d.code}` : ""}${d.message ? ` — ${d.message}` : ""}`;
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
    }),
    // yt-dlp cookie files YouTube rejected: the operator has to export them again
    ...state.cookies.filter((c) => !c.usable).map((c) => {
      const el = document.createElement("div");
      el.className = "warning cookies";
      el.textContent = `yt-dlp cookies ${c.name} set aside: ${c.reason}. Export it again to bring it back.`;
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
  state.cookies = body.ytdlp_cookies || [];
  renderWarnings();
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
