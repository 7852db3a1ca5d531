// The report page: comparison table, training curves, the similarity distributions that
// motivate NAAF, and query panels (word chips + top-5 scenes). One string, inline CSS, no
// scripts; a Content-Security-Policy forbids any network or script use at view time.
import { histogramChart, lineChart, PALETTE, type Series } from './charts.js';
import { escapeHtml as esc } from './escape.js';
import type { MethodResult, QueryPanel, ReportData, WordTerm } from './types.js';

const fixed = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '—');

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds - 60 * m);
  return m < 60 ? `${m} min ${String(s).padStart(2, '0')} s` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Indices of the best finite values (all of them on a tie); none when fewer than two compete. */
export function bestIndices(values: readonly number[], better: 'max' | 'min'): Set<number> {
  const finite = values.map((v, i) => [v, i] as const).filter(([v]) => Number.isFinite(v));
  if (finite.length < 2) return new Set();
  const best = better === 'max' ? Math.max(...finite.map(([v]) => v)) : Math.min(...finite.map(([v]) => v));
  return new Set(finite.filter(([v]) => v === best).map(([, i]) => i));
}

interface Column {
  key: string;
  get: (r: MethodResult) => number;
  show: (v: number) => string;
  better?: 'max' | 'min';
}

const COLUMNS: Column[] = [
  ...(['i2t', 't2i'] as const).flatMap((dir) => (['r1', 'r5', 'r10'] as const).map((k): Column => ({
    key: `${dir}-${k}`, get: (r) => r[dir][k], show: (v) => fixed(v), better: 'max',
  }))),
  { key: 'rsum', get: (r) => r.rsum, show: (v) => fixed(v), better: 'max' },
  { key: 'foil', get: (r) => r.foilAccuracy, show: (v) => (Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '—'), better: 'max' },
  { key: 'time', get: (r) => r.trainSeconds, show: duration, better: 'min' },
  { key: 'threshold', get: (r) => r.threshold ?? NaN, show: (v) => fixed(v, 3) },
];

export function renderTable(results: readonly MethodResult[]): string {
  const best = COLUMNS.map((c) => (c.better ? bestIndices(results.map(c.get), c.better) : new Set<number>()));
  const rows = results.map((r, i) => {
    const ranks = `i2t medr ${fixed(r.i2t.medr)}, meanr ${fixed(r.i2t.meanr)}; t2i medr ${fixed(r.t2i.medr)}, meanr ${fixed(r.t2i.meanr)}`;
    const cells = COLUMNS.map((c, k) => {
      const text = esc(c.show(c.get(r)));
      return best[k]!.has(i) ? `<td class="num best" data-col="${c.key}"><strong>${text}</strong></td>` : `<td class="num" data-col="${c.key}">${text}</td>`;
    });
    return `<tr><th scope="row" title="${esc(ranks)}"><span class="dot" style="background:${PALETTE[i % PALETTE.length]}"></span>${esc(r.method)}</th>${cells.join('')}</tr>`;
  });
  return `<table id="comparison">
<thead><tr><th rowspan="2" scope="col">Method</th><th colspan="3" scope="colgroup">image → text</th><th colspan="3" scope="colgroup">text → image</th>`
    + '<th rowspan="2" scope="col">rsum</th><th rowspan="2" scope="col">foil acc.</th><th rowspan="2" scope="col">train time</th><th rowspan="2" scope="col">thres_safe</th></tr>\n'
    + `<tr>${'<th scope="col">R@1</th><th scope="col">R@5</th><th scope="col">R@10</th>'.repeat(2)}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

/** A method keeps its colour across the table and every chart. */
function colourOf(data: ReportData): (method: string) => string {
  const order = [...new Set([...data.results.map((r) => r.method), ...data.curves.map((c) => c.method)])];
  return (method) => PALETTE[Math.max(0, order.indexOf(method)) % PALETTE.length]!;
}

function figure(title: string, svg: string, extra = ''): string {
  return `<figure class="plot"${extra}><figcaption>${esc(title)}</figcaption>${svg}</figure>`;
}

function renderCurves(data: ReportData): string {
  const colour = colourOf(data);
  const series = (pick: (p: ReportData['curves'][number]['points'][number]) => number, suffix = '', dashed = false) =>
    (c: ReportData['curves'][number]): Series => ({
      name: `${c.method}${suffix}`, color: colour(c.method), dashed, points: c.points.map((p) => ({ x: p.epoch, y: pick(p) })),
    });
  // SCAN has no learned threshold: a method whose values are all 0 or missing gets no line.
  const hasThreshold = (c: ReportData['curves'][number]) => c.points.some((p) => (Number.isFinite(p.thres) && p.thres !== 0) || (Number.isFinite(p.thresSafe) && p.thresSafe !== 0));
  const thresholds = data.curves.filter(hasThreshold).flatMap((c) => [series((p) => p.thres, ' thres')(c), series((p) => p.thresSafe, ' thres_safe', true)(c)]);
  return `<div class="charts">
${figure('Training loss', lineChart({ label: 'training loss per epoch', xLabel: 'epoch', yLabel: 'loss', integerX: true, series: data.curves.map(series((p) => p.loss)) }))}
${figure('Dev rsum', lineChart({ label: 'dev rsum per epoch', xLabel: 'epoch', yLabel: 'rsum', integerX: true, series: data.curves.map(series((p) => p.rsum)) }))}
${figure('Learned threshold', lineChart({ label: 'learned threshold per epoch', xLabel: 'epoch', yLabel: 'cosine', integerX: true, series: thresholds }))}
</div>`;
}

function renderDistributions(d: ReportData['distributions']): string {
  const share = (xs: readonly number[], test: (v: number) => boolean) => {
    const finite = xs.filter(Number.isFinite);
    return finite.length > 0 ? `${((100 * finite.filter(test).length) / finite.length).toFixed(1)}%` : '—';
  };
  const stats = `matched words at or above thres_safe: ${share(d.matched, (v) => v >= d.thresSafe)} · `
    + `mismatched words below the boundary: ${share(d.mismatched, (v) => v < d.threshold)}`;
  const svg = histogramChart({
    label: 'word-region max similarity, matched vs mismatched',
    xLabel: 'max cosine between a word and the image regions',
    groups: [
      { name: 'matched', color: '#16a34a', values: d.matched },
      { name: 'mismatched', color: '#dc2626', values: d.mismatched },
    ],
    markers: [
      { label: `boundary thres = ${fixed(d.threshold, 3)}`, value: d.threshold, className: 'threshold' },
      { label: `thres_safe = ${fixed(d.thresSafe, 3)}`, value: d.thresSafe, className: 'thres-safe', dashed: true },
    ],
  });
  return `<figure class="plot wide" id="distributions"><figcaption>${esc(d.caption)}</figcaption>${svg}<p class="stats">${esc(stats)}</p></figure>`;
}

/** A word with its NAAF terms (hover for them); `unknown`: outside the vocabulary (read as <unk>). */
export function wordChip(w: WordTerm, swapped: boolean, unknown = false): string {
  const total = w.neg + w.posF + w.posR;
  const tip = `${w.token}\nneg ${fixed(w.neg, 3)}\npos_f ${fixed(w.posF, 3)}\npos_r ${fixed(w.posR, 3)}\nsMax ${fixed(w.sMax, 3)}`
    + (w.mismatched ? '\njudged mismatched' : '') + (swapped ? '\nthe foil word' : '') + (unknown ? '\nnot in the vocabulary: the models read it as <unk>' : '');
  const cls = `word${w.mismatched ? ' mismatched' : ''}${swapped ? ' swapped' : ''}${unknown ? ' unknown' : ''}`;
  // Matched words shade green with pos_f + pos_r (each at most about 1), so strong evidence reads darker.
  const strength = Math.min(1, Math.max(0, (w.posF + w.posR) / 2));
  const style = w.mismatched ? '' : ` style="background:rgba(22,163,74,${(0.08 + 0.5 * strength).toFixed(2)})"`;
  return `<span class="${cls}" title="${esc(tip)}"${style}>${esc(w.token)}<small>${esc(fixed(total, 2))}</small></span>`;
}

export function renderQueryPanel(q: QueryPanel, index: number): string {
  const foilWord = q.kind === 'foil' && q.swapped ? q.swapped[1] : undefined;
  let marked = false; // only the first occurrence of the foil word is the swapped one we can point at
  const chips = q.words.map((w) => {
    const isFoil = !marked && foilWord !== undefined && w.token === foilWord;
    if (isFoil) marked = true;
    return wordChip(w, isFoil);
  });
  const heading = q.kind === 'foil'
    ? `Foil query ${index + 1}${q.swapped ? `: “${esc(q.swapped[0])}” → “${esc(q.swapped[1])}”` : ''}`
    : `Caption query ${index + 1}`;
  const label = q.kind === 'foil' ? 'source image' : 'true image';
  const scenes = q.top5.map((r, k) => `<li class="scene${r.correct ? ' correct' : ''}">`
    + `<div class="pic">${r.svg}</div>`
    + `<div class="meta"><span class="rank">#${k + 1}</span> <span class="score">${esc(fixed(r.score, 3))}</span> <span class="idx">img ${esc(r.imageIndex)}</span></div>`
    + (r.correct ? `<div class="badge">✓ ${label}</div>` : '')
    + '</li>');
  return `<article class="query ${q.kind}">
<h3>${heading}</h3>
<p class="caption">${chips.join(' ')}</p>
<p class="plain">${esc(q.caption)}</p>
<ol class="results">${scenes.join('')}</ol>
</article>`;
}

export const REPORT_CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f6f7f9;color:#111827;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:19px;margin:36px 0 8px;padding-bottom:4px;border-bottom:1px solid #d1d5db}
h3{font-size:16px;margin:0 0 8px}
.meta-line{color:#4b5563;margin:0 0 4px}
.lead{color:#374151;margin:4px 0 12px;max-width:900px}
section>.card,.query,.plot{background:#fff;border:1px solid #e5e7eb;border-radius:8px}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e5e7eb;border-radius:8px;font-variant-numeric:tabular-nums}
th,td{padding:7px 10px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}
thead th{background:#f3f4f6;font-weight:600;text-align:center}
tbody th{text-align:left;font-weight:600}
td.best{background:#ecfdf5;color:#065f46}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:8px;vertical-align:0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:14px}
.plot{margin:0;padding:10px 12px}
.plot figcaption{font-weight:600;margin-bottom:4px}
.plot.wide figcaption{font-weight:400;color:#374151}
svg.chart{display:block;width:100%;height:auto}
.plot.wide{overflow-x:auto}
.plot.wide svg.chart{min-width:620px}
.stats{margin:4px 0 0;color:#374151;font-size:14px}
.query{padding:14px 16px;margin:0 0 16px}
.caption{margin:0 0 4px;line-height:2.4}
.plain{margin:0 0 10px;color:#6b7280;font-size:13px}
.word{display:inline-flex;align-items:baseline;gap:4px;padding:1px 8px;border-radius:6px;border:1px solid #d1d5db;cursor:help}
.word small{font-size:11px;color:#374151;font-variant-numeric:tabular-nums}
.word.mismatched{background:#fee2e2;border-color:#dc2626;color:#991b1b;font-weight:600}
.word.mismatched small{color:#b91c1c}
.word.swapped{outline:2px dashed #7c3aed;outline-offset:1px}
.key{font-size:13px;color:#374151}
.key .word{cursor:default}
.results{list-style:none;margin:0;padding:0;display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px;max-width:1000px}
.scene{border:2px solid #e5e7eb;border-radius:8px;padding:4px;background:#fafafa}
.scene.correct{border:3px solid #16a34a;background:#f0fdf4}
.pic svg{display:block;width:100%;height:auto;border-radius:4px}
.scene .meta{font-size:13px;color:#374151;padding:3px 2px 0;font-variant-numeric:tabular-nums}
.rank{font-weight:700}.idx{color:#6b7280;float:right}
.badge{font-size:12px;font-weight:700;color:#166534}
ul.notes{padding-left:20px;color:#374151}
footer{margin-top:32px;color:#6b7280;font-size:13px}
`;

/** The head both pages share: charset, viewport, a Content-Security-Policy, title, inline styles, then `extra`. */
export function pageHead(title: string, csp: string, css: string, extra = ''): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>${esc(title)}</title>
<style>${css}</style>
${extra}</head>`;
}

export function renderReport(data: ReportData): string {
  const panels = data.queries.map(renderQueryPanel);
  const notes = data.notes.length > 0 ? `<ul class="notes">${data.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '<p class="lead">None.</p>';
  return `${pageHead(data.title, "default-src 'none'; style-src 'unsafe-inline'; img-src data:", REPORT_CSS)}
<body>
<main>
<header>
<h1>${esc(data.title)}</h1>
<p class="meta-line">${esc(data.generatedAt)} · ${esc(data.device)}</p>
<p class="meta-line">${esc(data.datasetSummary)}</p>
</header>
<section>
<h2>Retrieval results</h2>
<p class="lead">Test-split recall (R@K in %), rsum = sum of the six recalls, foil accuracy = share of captions scored above their one-word foil. Best per column highlighted; hover a method for median/mean ranks.</p>
<div class="table-wrap">${renderTable(data.results)}</div>
</section>
<section>
<h2>Training</h2>
${renderCurves(data)}
</section>
<section>
<h2>Why a negative-aware score</h2>
<p class="lead">For each word, the highest cosine with any region of the image: words of matching pairs versus words that name something absent. NAAF learns a boundary between the two and lets words below it count against the image.</p>
${renderDistributions(data.distributions)}
</section>
<section>
<h2>Queries</h2>
<p class="lead key">Each word shows its NAAF contribution (neg + pos_f + pos_r; hover for the terms). <span class="word mismatched">red<small>−</small></span> judged mismatched (negative term active), <span class="word" style="background:rgba(22,163,74,.5)">green<small>+</small></span> matched, darker with stronger positive evidence, <span class="word swapped">dashed</span> the foil's swapped word. Below, the top-5 retrieved scenes with rank and score.</p>
${panels.join('\n')}
</section>
<section>
<h2>Notes</h2>
${notes}
</section>
<footer>Self-contained report: no scripts, no network. Generated by naaf-webgpu.</footer>
</main>
</body>
</html>
`;
}
