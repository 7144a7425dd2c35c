// The dashboard's history charts (loaded before dashboard.js, which calls loadHistory and
// scheduleHistory; $ and el come from it at call time).
"use strict";

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
