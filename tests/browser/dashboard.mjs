// Drives Debian's headless Chromium with playwright-core (no browser download) for
// tests/e2e/test_dashboard_browser.py. One JSON argument; JSON lines out.
//
// {"mode": "dashboard", "chromium", "url", "timeoutMs", "phases": [phase, ...]}
//   opens the dashboard and goes through the phases; before each phase but the first it
//   reads a line from stdin (the test acts meanwhile: pays, breaks the streams). A phase
//   {"waitFor": [footer dataset keys], "more": N, "reopened": K, "screenshot": path} waits
//   until the footer has every timing named (firstTickMs, firstFillMs, ...), the events
//   stream has shown N more events than at the end of the previous phase and has been opened
//   K times, saves the screenshot, and prints one JSON line: the timings, the event cursors
//   shown (newest first), the page's texts, and the console errors and page errors since the
//   previous line.
// {"mode": "probe", "chromium", "url", "ticker", "stream", "timeoutMs"}
//   opens `url` (any page of an origin) and from it fetches `ticker` and opens an
//   EventSource on `stream`; prints what the browser let the page see of each.
// {"mode": "relink", "chromium", "urls", "settleMs"}
//   opens each of `urls` in turn in the same tab (one session storage), waiting `settleMs`
//   on each; prints the page's connection line and address after the last.
import { chromium } from "playwright-core";

const args = JSON.parse(process.argv[2]);

function snapshot(page) {
  return page.evaluate(() => ({
    timings: { ...document.getElementById("timings").dataset },
    opened: { ...document.body.dataset },
    cursors: [...document.querySelectorAll("#events tr")].map((r) => r.dataset.cursor),
    state: document.getElementById("state").textContent,
    performance: document.getElementById("performance").textContent,
    address: location.href,
  }));
}

function line(value) {
  return new Promise((resolve) => process.stdout.write(`${JSON.stringify(value)}\n`, resolve));
}

async function dashboard(page, errors, exceptions) {
  await page.goto(args.url);
  let shown = 0;
  for (const [i, phase] of args.phases.entries()) {
    if (i > 0) await new Promise((resolve) => process.stdin.once("data", resolve));
    await page.waitForFunction(
      ({ keys, atLeast, reopened }) =>
        keys.every((k) => document.getElementById("timings").dataset[k]) &&
        Number(document.body.dataset.eventsShown || 0) >= atLeast &&
        Number(document.body.dataset.eventsOpened || 0) >= reopened,
      { keys: phase.waitFor || [], atLeast: shown + (phase.more || 0), reopened: phase.reopened || 0 },
      { timeout: args.timeoutMs, polling: 100 },
    );
    await page.waitForTimeout(300); // let the chart's next frame draw
    if (phase.screenshot) await page.screenshot({ path: phase.screenshot, fullPage: true });
    const seen = await snapshot(page);
    shown = Number(seen.opened.eventsShown || 0);
    await line({ ...seen, errors: errors.splice(0), exceptions: exceptions.splice(0) });
  }
}

async function relink(page) {
  for (const url of args.urls) {
    await page.goto(url);
    await page.waitForTimeout(args.settleMs);
  }
  const connection = await page.evaluate(() => document.getElementById("connection").textContent);
  return { connection, address: page.url() };
}

async function probe(page) {
  await page.goto(args.url);
  return page.evaluate(
    async ({ ticker, stream, timeoutMs }) => {
      const fetched = await fetch(ticker)
        .then((r) => ({ status: r.status }))
        .catch((e) => ({ refused: String(e) }));
      const streamed = await new Promise((resolve) => {
        const source = new EventSource(stream);
        const done = (value) => {
          source.close();
          resolve(value);
        };
        source.onmessage = (m) => done({ data: m.data.slice(0, 200) });
        source.onerror = () => done({ error: true, readyState: source.readyState });
        setTimeout(() => done({ timeout: true }), timeoutMs);
      });
      return { fetched, streamed };
    },
    { ticker: args.ticker, stream: args.stream, timeoutMs: args.timeoutMs },
  );
}

const browser = await chromium.launch({
  executablePath: args.chromium,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors = [];
  const exceptions = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => exceptions.push(String(e)));
  if (args.mode === "probe") {
    const result = await probe(page);
    await line({ ...result, errors, exceptions });
  } else if (args.mode === "relink") {
    await line({ ...(await relink(page)), errors, exceptions });
  } else {
    await dashboard(page, errors, exceptions);
  }
} finally {
  await browser.close();
}
