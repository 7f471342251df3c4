// The live price chart, drawn on a canvas: the last `capacity` ticks as a line, the
// bot's fills as markers (green up triangles for buys, red down for sells), min/max/last
// labels. Redrawn at most once per animation frame, whatever the tick rate.
export class PriceChart {
  constructor(canvas, capacity = 600) {
    this.canvas = canvas;
    this.capacity = capacity;
    this.points = []; // {t: ms, p: number}
    this.fills = []; // {t: ms, p: number, buy: boolean}
    this.pending = false;
  }

  addTick(t, p) {
    if (!Number.isFinite(p) || !Number.isFinite(t)) return;
    this.points.push({ t, p });
    if (this.points.length > this.capacity) this.points.shift();
    this.schedule();
  }

  addFill(t, p, buy) {
    if (!Number.isFinite(p) || !Number.isFinite(t)) return;
    this.fills.push({ t, p, buy });
    if (this.fills.length > 200) this.fills.shift();
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const style = getComputedStyle(document.documentElement);
    const color = (name) => style.getPropertyValue(name).trim();
    ctx.font = "12px system-ui, sans-serif";
    if (this.points.length === 0) {
      ctx.fillStyle = color("--muted");
      ctx.fillText("waiting for the first tick…", 12, height / 2);
      return;
    }
    const t0 = this.points[0].t;
    const t1 = Math.max(this.points[this.points.length - 1].t, t0 + 1);
    const seen = this.fills.filter((f) => f.t >= t0);
    const prices = this.points.map((x) => x.p).concat(seen.map((f) => f.p));
    let lo = Math.min(...prices);
    let hi = Math.max(...prices);
    if (hi - lo < 1e-9) {
      lo -= 1;
      hi += 1;
    }
    const pad = { left: 8, right: 80, top: 10, bottom: 10 };
    const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
    const y = (p) => pad.top + ((hi - p) / (hi - lo)) * (height - pad.top - pad.bottom);
    ctx.strokeStyle = color("--grid");
    ctx.lineWidth = 1;
    for (const p of [lo, (lo + hi) / 2, hi]) {
      ctx.beginPath();
      ctx.moveTo(pad.left, y(p));
      ctx.lineTo(width - pad.right, y(p));
      ctx.stroke();
      ctx.fillStyle = color("--muted");
      ctx.fillText(p.toFixed(2), width - pad.right + 6, y(p) + 4);
    }
    ctx.strokeStyle = color("--line");
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    this.points.forEach((pt, i) => (i ? ctx.lineTo(x(pt.t), y(pt.p)) : ctx.moveTo(x(pt.t), y(pt.p))));
    ctx.stroke();
    for (const f of seen) {
      const fx = x(Math.min(f.t, t1));
      const fy = y(f.p);
      const d = f.buy ? 1 : -1;
      ctx.fillStyle = color(f.buy ? "--up" : "--down");
      ctx.beginPath();
      ctx.moveTo(fx, fy - 7 * d);
      ctx.lineTo(fx - 6, fy + 5 * d);
      ctx.lineTo(fx + 6, fy + 5 * d);
      ctx.closePath();
      ctx.fill();
    }
  }
}
