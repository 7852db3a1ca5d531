// Inline SVG charts for the report: a line chart (one line per series, ticks, labels, legend)
// and overlaid histograms with labelled vertical markers. Plain strings, no DOM, no fonts or
// scripts, so the page stays self-contained and renders the same in any browser.
import { escapeHtml } from './escape.js';

/** A line colour per method, in order; readable on white and distinct for the colour-blind-ish. */
export const PALETTE = ['#2563eb', '#ea580c', '#16a34a', '#9333ea', '#0891b2', '#be123c'] as const;

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"';
const r1 = (v: number) => (Math.round(v * 10) / 10).toString();

/** Round away the binary noise of `k * step` (0.30000000000000004 -> 0.3). */
function clean(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(digits, 12)));
}

/**
 * "Nice" ticks (steps of 1, 2 or 5 x 10^k) covering [lo, hi]: the first tick is <= lo, the last >= hi,
 * about `count` intervals. A degenerate range is widened so there are always at least two ticks.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(clean(k * step, step));
  return ticks;
}

/** Tick label with just enough decimals for the tick spacing. */
export function formatTick(v: number, ticks: readonly number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : 1;
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  const s = v.toFixed(digits);
  return s === '-0' || /^-0\.0*$/.test(s) ? s.slice(1) : s;
}

/**
 * Counts of `values` in `bins` equal-width bins over [lo, hi]; the last bin is closed so hi counts.
 * Values outside the range are clamped into the end bins; non-finite values are skipped.
 */
export function binValues(values: readonly number[], lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(Math.max(1, Math.floor(bins))).fill(0);
  const width = (hi - lo) / counts.length;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    const k = width > 0 ? Math.floor((v - lo) / width) : 0;
    counts[Math.min(counts.length - 1, Math.max(0, k))]!++;
  }
  return counts;
}

/** [min, max] by a loop: spreading 10^5+ samples into Math.min would overflow the call stack. */
export function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const px = (f: Frame, x: number, lo: number, hi: number) => f.left + ((x - lo) / (hi - lo || 1)) * (f.width - f.left - f.right);
const py = (f: Frame, y: number, lo: number, hi: number) => f.height - f.bottom - ((y - lo) / (hi - lo || 1)) * (f.height - f.top - f.bottom);

/** Grid lines, tick labels and axis titles; `xTicks`/`yTicks` must lie inside the given domains. */
function axes(f: Frame, xs: readonly number[], xDomain: [number, number], ys: readonly number[], yDomain: [number, number], xLabel: string, yLabel: string): string {
  const x0 = f.left;
  const x1 = f.width - f.right;
  const y0 = f.height - f.bottom;
  const y1 = f.top;
  const parts: string[] = [];
  for (const t of ys) {
    const y = r1(py(f, t, ...yDomain));
    parts.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${x0 - 6}" y="${y}" dy="0.32em" text-anchor="end">${formatTick(t, ys)}</text>`);
  }
  for (const t of xs) {
    const x = r1(px(f, t, ...xDomain));
    parts.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 5}" stroke="#6b7280"/>`);
    parts.push(`<text x="${x}" y="${y0 + 18}" text-anchor="middle">${formatTick(t, xs)}</text>`);
  }
  parts.push(`<path d="M${x0} ${y1}V${y0}H${x1}" fill="none" stroke="#6b7280"/>`);
  parts.push(`<text x="${r1((x0 + x1) / 2)}" y="${f.height - 6}" text-anchor="middle" fill="#374151">${escapeHtml(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${r1((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle" fill="#374151">${escapeHtml(yLabel)}</text>`);
  return `<g class="axes" font-size="12" fill="#4b5563">${parts.join('')}</g>`;
}

interface LegendItem {
  name: string;
  color: string;
  dashed?: boolean;
  box?: boolean; // a filled swatch (histograms) instead of a line sample
}

/** Legend items in a row from (left, 14), wrapping when the text would run past the right edge. */
function legend(f: Frame, items: readonly LegendItem[]): string {
  const parts: string[] = [];
  let x = f.left;
  let y = 14;
  for (const item of items) {
    const w = 26 + item.name.length * 6.6 + 16; // a rough text width: no font metrics without a DOM
    if (x + w > f.width - f.right && x > f.left) {
      x = f.left;
      y += 16;
    }
    const swatch = item.box
      ? `<rect x="${r1(x)}" y="${y - 5}" width="18" height="10" fill="${item.color}" fill-opacity="0.45" stroke="${item.color}"/>`
      : `<line x1="${r1(x)}" y1="${y}" x2="${r1(x + 18)}" y2="${y}" stroke="${item.color}" stroke-width="2.5"${item.dashed ? ' stroke-dasharray="5 3"' : ''}/>`;
    parts.push(`<g class="legend-item">${swatch}<text x="${r1(x + 24)}" y="${y}" dy="0.32em">${escapeHtml(item.name)}</text></g>`);
    x += w;
  }
  return `<g class="legend" font-size="12" fill="#111827">${parts.join('')}</g>`;
}

function svgOpen(f: Frame, label: string, extraClass = ''): string {
  return `<svg class="chart${extraClass}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${escapeHtml(label)}" ${FONT}>`;
}

export interface Series {
  name: string;
  color: string;
  /** Points with a non-finite y leave a gap in the line. */
  points: readonly { x: number; y: number }[];
  dashed?: boolean;
}

export interface LineChartOptions {
  label: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** x values are counts (epochs): never a fractional tick. */
  integerX?: boolean;
  width?: number;
  height?: number;
}

export function lineChart(o: LineChartOptions): string {
  const rows = Math.ceil(o.series.length / 2);
  // A narrow viewBox: three charts share a row, and 12-unit text should stay about 11px on screen.
  const f: Frame = { width: o.width ?? 360, height: o.height ?? 250, left: 54, right: 12, top: 22 + 16 * rows, bottom: 40 };
  const pts = o.series.flatMap((s) => s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)));
  if (pts.length === 0) {
    return `${svgOpen(f, o.label, ' empty')}<text x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle" font-size="13" fill="#6b7280">no data</text></svg>`;
  }
  let xs = niceTicks(...extent(pts.map((p) => p.x)), 6);
  if (o.integerX && xs.length > 1 && xs[1]! - xs[0]! < 1) xs = niceTicks(xs[0]!, xs.at(-1)!, Math.max(1, xs.at(-1)! - xs[0]!));
  const ys = niceTicks(...extent(pts.map((p) => p.y)), 5);
  const xd: [number, number] = [xs[0]!, xs.at(-1)!];
  const yd: [number, number] = [ys[0]!, ys.at(-1)!];
  const lines = o.series.map((s) => {
    let d = '';
    let pen = false;
    const dots: string[] = [];
    for (const p of s.points) {
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) {
        pen = false;
        continue;
      }
      const x = r1(px(f, p.x, ...xd));
      const y = r1(py(f, p.y, ...yd));
      d += `${pen ? 'L' : 'M'}${x} ${y}`;
      pen = true;
      if (s.points.length <= 40) dots.push(`<circle cx="${x}" cy="${y}" r="2.6" fill="${s.color}"/>`);
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    return `<g class="series" data-name="${escapeHtml(s.name)}"><path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"${dash}/>${dots.join('')}</g>`;
  });
  return svgOpen(f, o.label)
    + axes(f, xs, xd, ys, yd, o.xLabel, o.yLabel)
    + lines.join('')
    + legend(f, o.series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed })))
    + '</svg>';
}

export interface HistogramGroup {
  name: string;
  color: string;
  values: readonly number[];
}

export interface Marker {
  label: string;
  value: number;
  className: string;
  dashed?: boolean;
}

export interface HistogramOptions {
  label: string;
  xLabel: string;
  groups: readonly HistogramGroup[];
  markers: readonly Marker[];
  bins?: number;
  width?: number;
  height?: number;
}

/**
 * Overlaid histograms over one shared range (the data, widened to take in the markers). Bars are
 * each group's share of its own samples, so groups of different sizes compare by shape.
 */
export function histogramChart(o: HistogramOptions): string {
  // The top margin holds the legend (y 14) and two rows of marker labels.
  const f: Frame = { width: o.width ?? 880, height: o.height ?? 330, left: 58, right: 18, top: 64, bottom: 42 };
  const finite = o.groups.flatMap((g) => g.values.filter(Number.isFinite));
  const marks = o.markers.filter((m) => Number.isFinite(m.value));
  if (finite.length === 0) {
    return `${svgOpen(f, o.label, ' empty')}<text x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle" font-size="13" fill="#6b7280">no samples</text></svg>`;
  }
  let [lo, hi] = extent([...finite, ...marks.map((m) => m.value)]);
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const bins = o.bins ?? 30;
  const width = (hi - lo) / bins;
  const shares = o.groups.map((g) => {
    const counts = binValues(g.values, lo, hi, bins);
    const n = counts.reduce((a, b) => a + b, 0);
    return { counts, share: counts.map((c) => (n > 0 ? (100 * c) / n : 0)) };
  });
  const ys = niceTicks(0, extent(shares.flatMap((s) => s.share))[1], 5);
  const yd: [number, number] = [0, ys.at(-1)!];
  const xs = niceTicks(lo, hi, 8).filter((t) => t >= lo - 1e-9 && t <= hi + 1e-9);
  const xd: [number, number] = [lo, hi];
  const bars = o.groups.map((g, gi) => {
    const rects = shares[gi]!.share.flatMap((s, k) => {
      if (s === 0) return [];
      const x = px(f, lo + k * width, ...xd);
      const y = py(f, s, ...yd);
      const w = px(f, lo + (k + 1) * width, ...xd) - x;
      const tip = `${g.name}: ${shares[gi]!.counts[k]} in [${(lo + k * width).toFixed(3)}, ${(lo + (k + 1) * width).toFixed(3)})`;
      return [`<rect x="${r1(x)}" y="${r1(y)}" width="${r1(w)}" height="${r1(f.height - f.bottom - y)}"><title>${escapeHtml(tip)}</title></rect>`];
    });
    return `<g class="hist" data-name="${escapeHtml(g.name)}" fill="${g.color}" fill-opacity="0.42" stroke="${g.color}" stroke-width="0.8">${rects.join('')}</g>`;
  });
  // Labels of markers that sit close together are stacked so they do not overprint.
  const sorted = [...marks].sort((a, b) => a.value - b.value);
  let lastX = -Infinity;
  let level = 0;
  const lines = sorted.map((m) => {
    const x = px(f, m.value, ...xd);
    level = x - lastX < 170 ? level + 1 : 0;
    lastX = x;
    const ty = f.top - 10 - (level % 2 === 0 ? 16 : 0);
    const anchor = x > f.width - f.right - 120 ? 'end' : x < f.left + 120 ? 'start' : 'middle';
    const dash = m.dashed ? ' stroke-dasharray="6 4"' : '';
    return `<g class="boundary ${m.className}"><line x1="${r1(x)}" y1="${f.top - 4}" x2="${r1(x)}" y2="${f.height - f.bottom}" stroke="#111827" stroke-width="1.8"${dash}/>`
      + `<text x="${r1(x)}" y="${ty}" text-anchor="${anchor}" font-size="12" font-weight="600" fill="#111827">${escapeHtml(m.label)}</text></g>`;
  });
  return svgOpen(f, o.label)
    + axes(f, xs, xd, ys, yd, o.xLabel, 'share of words (%)')
    + bars.join('')
    + lines.join('')
    + legend(f, o.groups.map((g) => ({ name: `${g.name} (n=${g.values.filter(Number.isFinite).length})`, color: g.color, box: true })))
    + '</svg>';
}
