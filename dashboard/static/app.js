// hub dashboard: small progressive enhancements (copy buttons, confirmations). No inline
// script anywhere (the Content-Security-Policy forbids it); every page works without this file.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy], button[data-copy-from]");
  if (!button) return;
  const source = button.dataset.copyFrom ? document.getElementById(button.dataset.copyFrom) : null;
  const text = source ? source.textContent : button.dataset.copy;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
});

document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Times as the pages show them (TIME_FORMAT in hub/dashboard/base.py): 24-hour UTC with the
// zone named, whatever the browser's zone. The console and the charts leave the date off.
function utcTime(ms, { date = true, seconds = true } = {}) {
  const iso = new Date(ms).toISOString();  // 2026-12-07T14:03:22.123Z
  return `${date ? iso.slice(0, 10) + " " : ""}${iso.slice(11, seconds ? 19 : 16)} UTC`;
}

// Live numbers, charts and the debug console, from the hub's own Server-Sent Events stream
// (/dashboard/apps/{id}/live). EventSource reconnects by itself when the stream drops.
const SLOT_MS = { per_second: 1000, per_minute: 60000 };

// A bar per slot, the last one the hub's current slot (nowMs is the hub's clock), under a time
// axis of a few labelled ticks; the labels are also kept in data-ticks and the aria-label.
function drawBars(canvas, values, nowMs, slotMs) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio; canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const top = Math.max(1, ...values);
  const left = 26, right = 6, axis = height - 20, gap = 2, bar = (width - left - right) / values.length;
  ctx.fillStyle = "#5f6b7a"; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "alphabetic";
  ctx.textAlign = "left"; ctx.fillText(String(top), 4, 12); ctx.fillText("0", 4, axis);
  ctx.strokeStyle = "#e3e7ed"; ctx.beginPath(); ctx.moveTo(left, axis + 0.5); ctx.lineTo(width - right, axis + 0.5); ctx.stroke();
  ctx.fillStyle = "#4f46e5";
  values.forEach((value, i) => {
    const h = (value / top) * (axis - 16);
    ctx.fillRect(left + i * bar, axis - h, Math.max(1, bar - gap), h);
  });
  // Ticks back from the last bar at a round step (every 15 s or 15 min on a desk, 30 on a
  // phone): a label is about 80 px wide, so no closer than ~110 px.
  const n = values.length, most = Math.max(2, Math.floor((width - left) / 110));
  const step = [5, 10, 15, 20, 30].find((s) => Math.ceil(n / s) <= most) ?? n - 1;
  const last = Math.floor(nowMs / slotMs) * slotMs, labels = [];
  ctx.fillStyle = "#5f6b7a"; ctx.strokeStyle = "#b8c0cc";
  for (let i = n - 1; i >= 0; i -= step) {
    const label = utcTime(last - (n - 1 - i) * slotMs, { date: false, seconds: slotMs < 60000 });
    const x = left + i * bar + (bar - gap) / 2;
    ctx.beginPath(); ctx.moveTo(x, axis); ctx.lineTo(x, axis + 4); ctx.stroke();
    ctx.textAlign = i === n - 1 ? "right" : "center";
    ctx.fillText(label, i === n - 1 ? width - right : x, height - 4);
    labels.unshift(label);
  }
  canvas.dataset.ticks = labels.join(" | ");
  canvas.setAttribute("aria-label", `${canvas.dataset.caption}, ${labels[0]} to ${labels[labels.length - 1]}`);
}

function startLive(root) {
  const source = new EventSource(root.dataset.live);
  const status = root.querySelector("[data-status]");
  const log = root.querySelector("[data-log]");
  const filter = root.querySelector("[data-filter]");
  let paused = false;
  const setStatus = (text) => { if (status) status.textContent = text; };
  source.addEventListener("open", () => setStatus("Live"));
  source.addEventListener("error", () => setStatus("Reconnecting…"));
  source.addEventListener("stats", (message) => {
    const stats = JSON.parse(message.data);
    root.querySelectorAll("[data-connections]").forEach((el) => { el.textContent = stats.connections; });
    const set = (name, value) => root.querySelectorAll(`[data-stat="${name}"]`).forEach((el) => { el.textContent = value; });
    set("connections", stats.connections);
    set("channels", stats.channels);
    set("today", stats.today);
    set("rate", stats.per_second[stats.per_second.length - 2] ?? 0);  // the last full second
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      drawBars(canvas, stats[canvas.dataset.chart], stats.time_ms, SLOT_MS[canvas.dataset.chart]);
    });
  });
  source.addEventListener("activity", (message) => {
    if (!log || paused) return;
    const record = JSON.parse(message.data);
    const row = document.createElement("tr");
    row.className = `kind-${record.kind} fresh`;
    row.dataset.channel = record.channel || "";
    const details = record.kind === "event" ? `${record.event}  ${record.data}`
      : record.kind === "error" ? `${record.code ?? ""} ${record.message}`
      : record.kind === "connected" ? `${record.protocol}${record.user_id ? " user " + record.user_id : ""}` : "";
    for (const text of [utcTime(record.time_ms, { date: false }), record.kind, record.channel || "", details, record.socket_id || ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;  // text, never HTML: event data comes from anyone
      row.appendChild(cell);
    }
    applyFilter(row);
    log.prepend(row);
    while (log.children.length > 500) log.lastChild.remove();
  });
  function applyFilter(row) {
    const wanted = filter ? filter.value.trim() : "";
    row.hidden = wanted !== "" && !row.dataset.channel.includes(wanted);
  }
  if (filter) filter.addEventListener("input", () => log.querySelectorAll("tr").forEach(applyFilter));
  const pause = root.querySelector("[data-pause]");
  if (pause) pause.addEventListener("click", () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; });
  const clear = root.querySelector("[data-clear]");
  if (clear) clear.addEventListener("click", () => { log.textContent = ""; });
  const trigger = root.querySelector("form[data-trigger]");
  if (trigger) trigger.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new URLSearchParams(new FormData(trigger));
    const answer = await fetch(trigger.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRF-Token": body.get("_csrf") },
    });
    setStatus(answer.ok ? "Test event sent" : `Refused: ${answer.status}`);
  });
}

function startAppsLive(root) {
  const source = new EventSource(root.dataset.appsLive);
  source.addEventListener("apps", (message) => {
    for (const [id, numbers] of Object.entries(JSON.parse(message.data))) {
      root.querySelectorAll(`[data-connections="${id}"]`).forEach((el) => { el.textContent = numbers.connections; });
      root.querySelectorAll(`[data-today="${id}"]`).forEach((el) => { el.textContent = numbers.today; });
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach(startLive);
  document.querySelectorAll("[data-apps-live]").forEach(startAppsLive);
});
