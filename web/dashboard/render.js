// Turns the API's messages into text on the page. Every value is set as text (never as
// HTML), so nothing an event carries can run in the page.

const MAX_ROWS = 500;

export function plain(value, prefix) {
  const text = String(value ?? "");
  return (prefix && text.startsWith(prefix) ? text.slice(prefix.length) : text)
    .toLowerCase()
    .replaceAll("_", " ");
}

export function clock(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour12: false });
}

function fill(dl, pairs) {
  const nodes = [];
  for (const [name, value, cls] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    if (cls) dd.className = cls;
    nodes.push(dt, dd);
  }
  dl.replaceChildren(...nodes);
}

function sign(value) {
  const n = Number(value);
  return n > 0 ? "up" : n < 0 ? "down" : "";
}

function percent(value) {
  return Number.isFinite(value) ? `${(value * 100).toFixed(2)} %` : "";
}

export function showStatus(status) {
  const state = plain(status.state, "BOT_STATE_");
  const el = document.getElementById("state");
  el.textContent = state || "unknown";
  el.className = `state ${state.split(" ")[0]}`;
  const reason = document.getElementById("reason");
  const why = [plain(status.reason), status.message].filter(Boolean).join(": ");
  reason.textContent = why;
  reason.hidden = !why || state === "running";
  const last = status.last_decision || {};
  fill(document.getElementById("position"), [
    ["position", status.position],
    ["entry price", status.entry_price],
    ["committed", status.committed],
    ["allocation", status.allocation],
    ["last decision", last.action ? `${last.action} → ${plain(last.outcome)}` : ""],
    ["next tick", status.next_tick_time ? clock(status.next_tick_time) : ""],
  ]);
}

export function showPerformance(perf) {
  fill(document.getElementById("performance"), [
    ["equity", perf.equity],
    ["realized PnL", perf.realized_pnl, sign(perf.realized_pnl)],
    ["unrealized PnL", perf.unrealized_pnl, sign(perf.unrealized_pnl)],
    ["return", percent(perf.total_return), sign(perf.total_return)],
    ["fees", perf.fees],
    ["trades", perf.trade_count],
    ["win rate", perf.trade_count ? percent(perf.win_rate) : ""],
    ["max drawdown", percent(perf.max_drawdown)],
    ["as of", perf.as_of ? clock(perf.as_of) : ""],
  ]);
}

// [kind, one-line description] of a BotEvent.
export function describe(event) {
  if (event.decision) {
    const d = event.decision;
    const order = d.side ? ` ${plain(d.side, "ORDER_SIDE_")} ${d.quantity || ""}` : "";
    return ["decision", `${d.action} → ${plain(d.outcome)}${d.reason ? ` (${plain(d.reason)})` : ""}${order}`];
  }
  if (event.order) {
    const o = event.order;
    const avg = o.average_price ? ` @ ${o.average_price}` : "";
    const why = o.reject_reason ? ` (${o.reject_reason})` : "";
    return ["order", `${plain(o.side, "ORDER_SIDE_")} ${o.quantity} ${plain(o.state, "ORDER_STATE_")}, filled ${o.filled_quantity || "0"}${avg}${why}`];
  }
  if (event.trade) {
    const t = event.trade;
    return ["fill", `${plain(t.side, "ORDER_SIDE_")} ${t.quantity} @ ${t.price}, fee ${t.fee} ${t.fee_asset || ""}`];
  }
  if (event.status) {
    const s = event.status;
    return ["status", `${plain(s.state, "BOT_STATE_")}${s.reason ? `: ${plain(s.reason)}` : ""}`];
  }
  if (event.performance) {
    const p = event.performance;
    return ["pnl", `equity ${p.equity}, realized ${p.realized_pnl}, unrealized ${p.unrealized_pnl}`];
  }
  if (event.risk) {
    const r = event.risk;
    return ["risk", `${plain(r.rule, "RISK_RULE_")} ${plain(r.outcome, "RISK_OUTCOME_")}: ${r.message || ""}`];
  }
  return ["other", ""];
}

export function addRow(event) {
  const [kind, text] = describe(event);
  const row = document.createElement("tr");
  row.className = kind === "fill" ? "trade" : kind;
  row.dataset.cursor = event.event_id;
  for (const value of [clock(event.time), kind, text, event.event_id]) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  const body = document.getElementById("events");
  body.prepend(row);
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
}
