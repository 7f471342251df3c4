// The subscription dashboard: live prices, the bot's events, status and performance, over
// the gateway's SSE streams, with a dashboard token (never an API key: it must not reach a
// browser).
//
// Opened as /dashboard/?token=<dashboard token>&subscription=<id>[&market=BTC-USDT]
// [&exchange=<ccxt id>][&api=<gateway base URL, when the page is served from another origin>].
// The rules it keeps: the token leaves the address bar at once (kept in this tab's session
// storage for the gateway it came with, so a reload still works, and only that gateway ever
// gets it); the events stream starts from the first event (after=0) and, after any break,
// resumes after the last event shown, so no event is lost; an event at or before that
// cursor is dropped, so none is shown twice; an expired token stops the
// streams with a message instead of retrying forever. Status and performance are read whole
// (GetBotStatus, GetPerformance, with the same token) at start and after each fill; the events
// stream updates them in between.
import { PriceChart } from "./chart.js";
import { addRow, plain, showPerformance, showStatus } from "./render.js";
import { LiveStream, compareCursors } from "./stream.js";

const params = new URLSearchParams(location.search);
const subscription = params.get("subscription") || "";
let market = params.get("market") || "BTC-USDT";
const exchange = params.get("exchange") || "";
const timings = document.getElementById("timings");
const connection = document.getElementById("connection");
const api = gatewayBase(params.get("api"));
// The kept token is the one this tab was given for this gateway: a later link naming another
// gateway (api=) finds none, so a crafted link cannot send the tab's token elsewhere.
const STORE = `botmesh.dashboard.token ${api}`;
const token = params.get("token") || sessionStorage.getItem(STORE) || "";

if (params.has("token")) {
  sessionStorage.setItem(STORE, token);
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

const chart = new PriceChart(document.getElementById("chart"));
const states = { prices: "connecting", events: "connecting" };
let cursor = "0";
let shown = 0;

function gatewayBase(given) {
  if (!given) return location.origin;
  try {
    const url = new URL(given);
    if (url.protocol === "http:" || url.protocol === "https:") return url.origin;
  } catch {
    // fall through
  }
  fail(`not a gateway URL: ${given}`);
  return location.origin;
}

function fail(message) {
  connection.textContent = message;
  connection.className = "reason";
}

// The token's expiry, read from its payload (bmd_<base64url JSON>.<mac>); the server checks it.
function tokenExpiry(value) {
  try {
    const payload = value.slice(4, value.indexOf("."));
    const json = atob(payload.replaceAll("-", "+").replaceAll("_", "/"));
    return JSON.parse(json).exp * 1000;
  } catch {
    return 0;
  }
}

// Milliseconds from page open (navigation start) to the first of each, shown in the footer.
function mark(name) {
  if (timings.dataset[name]) return;
  const ms = Math.round(performance.now());
  timings.dataset[name] = String(ms);
  const done = [
    ["firstTickMs", "first tick"],
    ["firstEventMs", "first event"],
    ["firstOrderMs", "first order"],
    ["firstFillMs", "first fill"],
  ].filter(([key]) => timings.dataset[key]);
  const text = done.map(([key, what]) => `${what} ${timings.dataset[key]} ms`);
  timings.textContent = `after page open: ${text.join(" · ")}`;
}

function showConnection() {
  const expires = tokenExpiry(token);
  if (expires && Date.now() >= expires) {
    prices.stop();
    events.stop();
    fail("the dashboard token has expired: open the dashboard again from the marketplace");
    return;
  }
  const parts = Object.entries(states).map(([name, state]) => `${name} ${state}`);
  connection.textContent = `${parts.join(" · ")} · cursor ${cursor}`;
  connection.className = "muted";
  document.body.dataset.pricesOpened = String(prices.opened);
  document.body.dataset.eventsOpened = String(events.opened);
  document.body.dataset.eventsShown = String(shown);
}

function onState(name) {
  return (state, wait) => {
    states[name] = state === "retrying" ? `reconnecting in ${Math.round(wait / 1000)} s` : state;
    showConnection();
  };
}

function onPrice(item) {
  const ticker = item.ticker;
  if (!ticker) return; // heartbeat
  mark("firstTickMs");
  const price = Number(ticker.last);
  chart.addTick(Date.now(), price); // arrival time: the venue's clock may run fast (a sim)
  document.getElementById("last").textContent = `${ticker.last} ${ticker.exchange || ""}`;
}

function onEvent(item) {
  const event = item.event;
  if (!event || !event.event_id) return; // heartbeat
  if (cursor !== "0" && compareCursors(event.event_id, cursor) <= 0) return; // already shown
  cursor = event.event_id;
  shown += 1;
  document.getElementById("event-count").textContent = String(shown);
  mark("firstEventMs");
  addRow(event);
  if (event.order) mark("firstOrderMs");
  if (event.trade) {
    mark("firstFillMs");
    const buy = plain(event.trade.side, "ORDER_SIDE_") === "buy";
    chart.addFill(Date.now(), Number(event.trade.price), buy);
  }
  if (event.status) {
    showStatus(event.status);
    if (event.status.market && event.status.market !== market) switchMarket(event.status.market);
  }
  if (event.performance) showPerformance(event.performance);
  if (event.trade) refresh();
  showConnection();
}

async function read(path) {
  const answer = await fetch(`${api}${path}`, { headers: { "x-access-token": token } });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.message || `${path}: HTTP ${answer.status}`);
  return body;
}

async function refresh() {
  const sub = `/v1/subscriptions/${encodeURIComponent(subscription)}`;
  try {
    const [status, perf] = await Promise.all([read(`${sub}/status`), read(`${sub}/performance`)]);
    if (status.status) showStatus(status.status);
    if (perf.performance) showPerformance(perf.performance);
    document.body.dataset.performanceReads = String(Number(document.body.dataset.performanceReads || 0) + 1);
  } catch (error) {
    document.getElementById("performance-note").textContent = `not read: ${error.message}`;
  }
}

function switchMarket(next) {
  market = next;
  document.getElementById("market").textContent = market;
  prices.open();
}

function streamUrl(path, extra) {
  const query = new URLSearchParams({ access_token: token, ...extra });
  return `${api}${path}?${query}`;
}

const prices = new LiveStream({
  url: () =>
    streamUrl(
      `/v1/markets/${encodeURIComponent(market)}/prices:stream`,
      exchange ? { exchange } : {},
    ),
  onItem: onPrice,
  onState: onState("prices"),
});
const events = new LiveStream({
  url: () =>
    streamUrl(`/v1/subscriptions/${encodeURIComponent(subscription)}/events:stream`, {
      after: cursor,
    }),
  onItem: onEvent,
  onState: onState("events"),
});

document.getElementById("market").textContent = market;
chart.draw();
if (!token || !subscription) {
  fail("open this page with ?token=<dashboard token>&subscription=<subscription id>");
} else {
  prices.start();
  events.start();
  refresh();
  setInterval(showConnection, 30000);
}
