// One server-sent-events stream that reconnects by itself.
//
// The rule: the browser's own EventSource retry is never used (it would reopen the first URL,
// with the first cursor); on any error the stream is closed and reopened after a backoff
// (1 s, doubling, at most 15 s) with a URL built afresh, so the events stream resumes after
// the last event it delivered. A stream silent for longer than `silenceMs` (the server sends
// heartbeats) is treated as broken too. `stop()` ends it for good.
export class LiveStream {
  constructor({ url, onItem, onState, silenceMs = 60000 }) {
    this.url = url; // () => string, called at every (re)connection
    this.onItem = onItem; // (parsed JSON of one `data:` line)
    this.onState = onState; // ("connecting" | "live" | "retrying" | "stopped", detail)
    this.silenceMs = silenceMs;
    this.backoffMs = 1000;
    this.source = null;
    this.timer = null;
    this.watchdog = null;
    this.lastMessage = 0;
    this.stopped = false;
    this.opened = 0; // connections made, the first included
  }

  start() {
    this.stopped = false;
    this.open();
  }

  open() {
    this.close();
    if (this.stopped) return;
    this.onState("connecting");
    const source = new EventSource(this.url());
    this.source = source;
    this.lastMessage = Date.now();
    source.onopen = () => {
      if (source !== this.source) return;
      this.opened += 1;
      this.onState("live");
    };
    source.onmessage = (message) => {
      if (source !== this.source) return;
      this.lastMessage = Date.now();
      this.backoffMs = 1000;
      let item;
      try {
        item = JSON.parse(message.data);
      } catch {
        return; // not ours: ignore rather than break the page
      }
      this.onItem(item);
    };
    source.onerror = () => {
      if (source !== this.source) return;
      this.retry();
    };
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastMessage > this.silenceMs) this.retry();
    }, 1000);
  }

  retry() {
    this.close();
    if (this.stopped) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 15000);
    this.onState("retrying", wait);
    this.timer = setTimeout(() => this.open(), wait);
  }

  close() {
    if (this.source) {
      this.source.onopen = this.source.onmessage = this.source.onerror = null;
      this.source.close();
      this.source = null;
    }
    clearInterval(this.watchdog);
    clearTimeout(this.timer);
    this.watchdog = this.timer = null;
  }

  stop() {
    this.stopped = true;
    this.close();
    this.onState("stopped");
  }
}

// Stream cursors are Redis stream ids, "<ms>-<seq>", each part below 2^64: compared as
// BigInt, never as strings or floats.
export function compareCursors(a, b) {
  const [am, as = "0"] = String(a).split("-");
  const [bm, bs = "0"] = String(b).split("-");
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}
