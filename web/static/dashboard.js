// Sattva live dashboard: an initial snapshot from /api/state, then the monitoring
// WebSocket (authenticated by the admin session cookie).  No build step, no libraries.
"use strict";

const HISTORY_SECONDS = 600;
const state = {
  chats: new Map(), cpu: [], mem: [], warnings: new Map(), interval: 5, streams: null, activeTotal: 0,
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

function renderChats() {
  const box = $("chats");
  const chats = [...state.chats.values()].sort((a, b) => a.chat_id - b.chat_id);
  if (!chats.length) {
    box.innerHTML = '<p class="empty">Nothing is playing.</p>';
  } else {
    box.replaceChildren(...chats.map((c) => {
      const el = document.createElement("article");
      el.className = "chat";
      el.dataset.chat = c.chat_id;
      const pos = livePosition(c);
      const pct = c.duration ? Math.min(100, (100 * (pos || 0)) / c.duration) : 0;
      el.innerHTML = `<div class="id"></div><div class="title"></div>
        <div class="bar"><div></div></div><div class="meta"></div>`;
      el.querySelector(".id").textContent = `chat ${c.chat_id} · ${c.state}`;
      el.querySelector(".title").textContent = c.title || "—";
      el.querySelector(".bar > div").style.width = pct + "%";
      el.querySelector(".meta").textContent =
        `${fmtTime(pos)} / ${fmtTime(c.duration)} · listeners ${c.listeners ?? "?"} · queued ${c.queued}`;
      return el;
    }));
  }
  // the player's running totals (every chat), from the last snapshot or metrics_update
  const t = state.streams;
  if (t) {
    const more = state.activeTotal > chats.length ? ` (showing ${chats.length})` : "";
    $("totals").textContent = `${t.active} active · ${t.listeners} listeners · ${t.queued} queued${more}`;
  }
}

function renderWarnings() {
  const box = $("warnings");
  const now = Date.now() / 1000;
  box.replaceChildren(...[...state.warnings.entries()]
    .filter(([, w]) => w.until > now)
    .map(([chat, w]) => {
      const el = document.createElement("div");
      el.className = "warning";
      el.textContent = `Chat ${chat}: the stream will end automatically in ${fmtTime(w.until - now)} (${w.reason}).`;
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
  if (f.streams) { state.streams = f.streams; renderChats(); }
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
  renderChats();
  pushFigures(body.figures, Date.now() / 1000);
}
function scheduleRefresh() {
  if (refreshTimer === null) refreshTimer = setTimeout(refresh, 150);
}

function onEvent(msg) {
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

setInterval(() => { renderChats(); renderWarnings(); }, 1000);
refresh().then(() => connect(1000));
