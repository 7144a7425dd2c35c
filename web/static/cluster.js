// The dashboard's cluster section (loaded before dashboard.js, which calls loadCluster;
// $, el and chatName come from it at call time).
"use strict";

// Cluster: nodes, the assistants each holds (lease token, age and time left), their chats.
async function loadCluster() {
  const r = await fetch("/api/cluster", { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) return;
  renderCluster(await r.json());
}

function secs(v) { return v == null ? null : `${v < 10 ? v.toFixed(1) : Math.round(v)} s`; }

// a lease's age: seconds, minutes, hours or days, whichever reads best
function age(v) {
  if (v < 120) return secs(v);
  if (v < 7200) return `${Math.round(v / 60)} min`;
  if (v < 172800) return `${Math.round(v / 3600)} h`;
  return `${Math.round(v / 86400)} d`;
}

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
    if (a.lease_held_for != null) bits.push(`held ${age(a.lease_held_for)}`);
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
    if (n.poller) head.append(el("span", "badge poller", "polls Telegram"));
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
