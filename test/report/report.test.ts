// The visual report: string-level units (escaping, binning, ticks, best-of marks), then the real
// page in headless Chromium: layout boxes, charts drawn, pictures shown, no errors, no network.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { binValues, formatTick, niceTicks, renderReport, renderTable, writeReport, type ReportData } from '../../src/report/index.js';
import { Rng, drawScene, generateScenes } from '../../src/scenes/index.js';

const CHROMIUM = '/usr/bin/chromium';
const EVIL = `a <script>alert("x")</script> & 'quoted' "cube" </p><img src=x onerror=alert(1)>`;

function recall(base: number) {
  return { r1: base, r5: Math.min(100, base + 25), r10: Math.min(100, base + 35), medr: 2, meanr: 4.5 };
}

/** Data shaped like a real run: 2 methods, 10 epochs, 500 + 500 samples, a caption and a foil panel. */
function fakeData(): ReportData {
  const rng = new Rng(11);
  const ds = generateScenes({ images: 10, splits: { dev: 10, test: 10 }, regions: 12, imgDim: 8, seed: 3 });
  const test = ds.splits.test;
  const curve = (naaf: boolean) => Array.from({ length: 10 }, (_, e) => ({
    epoch: e + 1,
    loss: (naaf ? 40 : 46) * Math.exp(-e / 4) + 6 + rng.gaussian(),
    rsum: (naaf ? 420 : 380) * (1 - Math.exp(-(e + 1) / 3)) + 5 * rng.gaussian(),
    thres: naaf ? 0.38 * (1 - Math.exp(-(e + 1) / 2)) : NaN,
    thresSafe: naaf ? 0.26 * (1 - Math.exp(-(e + 1) / 2)) : NaN,
  }));
  const panel = (kind: 'caption' | 'foil', captionIndex: number, offset: number): ReportData['queries'][number] => {
    const foil = ds.foils.find((f) => f.captionIndex === captionIndex)!;
    const caption = kind === 'foil' ? foil.foil : test.captions[captionIndex]!;
    const truth = Math.floor(captionIndex / 5);
    const words = caption.split(' ').map((token) => {
      const mismatched = kind === 'foil' && token === foil.swapped[1];
      const sMax = mismatched ? 0.12 : 0.45 + 0.3 * rng.next();
      return { token, sMax, mismatched, neg: mismatched ? sMax - 0.3 : 0, posF: mismatched ? 0 : 0.3 + 0.6 * rng.next(), posR: sMax * 0.9 };
    });
    const ranked = [truth, ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => (truth + k) % 10)].slice(0, 5);
    if (kind === 'foil') [ranked[0], ranked[2]] = [ranked[2]!, ranked[0]!]; // the foil pushes its source image down
    return {
      kind, caption, swapped: kind === 'foil' ? foil.swapped : undefined, words,
      top5: ranked.map((imageIndex, k) => ({
        imageIndex, score: 0.62 - 0.05 * k, correct: imageIndex === truth,
        svg: drawScene(test.scenes[imageIndex]!, { width: 160, height: 120, idPrefix: `q${offset}r${k}` }),
      })),
    };
  };
  const queries = [panel('caption', 7, 0), panel('foil', 22, 1)];
  queries[0]!.caption = EVIL; // the plain-text line must render the markup inert
  return {
    title: 'NAAF vs SCAN on generated scenes',
    generatedAt: '2025-01-01T00:00:00Z',
    device: 'lavapipe (Mesa software Vulkan) via Dawn',
    datasetSummary: 'scenes: 1000 train / 100 dev / 100 test images, 5 captions each, 36 regions x 64 features',
    notes: ['Fake data for the report test.', 'Words <b>are</b> escaped.'],
    results: [
      { method: 'NAAF', i2t: recall(52.3), t2i: recall(41.7), rsum: 421.4, foilAccuracy: 0.913, trainSeconds: 184.2, threshold: 0.262 },
      { method: 'SCAN t2i', i2t: recall(47.9), t2i: recall(38.2), rsum: 394.1, foilAccuracy: 0.842, trainSeconds: 121.7 },
    ],
    curves: [{ method: 'NAAF', points: curve(true) }, { method: 'SCAN t2i', points: curve(false) }],
    distributions: {
      matched: Array.from({ length: 500 }, () => 0.55 + 0.11 * rng.gaussian()),
      mismatched: Array.from({ length: 500 }, () => 0.18 + 0.1 * rng.gaussian()),
      threshold: 0.37, thresSafe: 0.24,
      caption: 'Max word-region cosine on the test split (NAAF, last epoch).',
    },
    queries,
  };
}

describe('report strings', () => {
  it('escapes captions, notes and titles so they render inert', () => {
    const data = fakeData();
    data.title = EVIL;
    const html = renderReport(data);
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<b>are</b>');
    expect(html).toContain('a &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;');
    expect(html).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
  });

  it('renders empty sections and very large samples without throwing', () => {
    const empty: ReportData = {
      title: 't', generatedAt: '', device: '', datasetSummary: '', notes: [], results: [], curves: [], queries: [],
      distributions: { matched: [], mismatched: [], threshold: NaN, thresSafe: NaN, caption: '' },
    };
    const html = renderReport(empty);
    expect(html.match(/<svg class="chart empty"/g)).toHaveLength(4);
    const big = fakeData();
    big.distributions.matched = Array.from({ length: 300_000 }, (_, i) => (i % 997) / 997); // past spread-argument limits
    expect(renderReport(big)).toContain('matched (n=300000)');
  });

  it('bins every finite sample exactly once', () => {
    const values = [0, 0.1, 0.5, 0.999, 1, -3, 7, NaN, Infinity];
    const counts = binValues(values, 0, 1, 30);
    expect(counts).toHaveLength(30);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(7); // the out-of-range ones clamp to the ends
    expect(counts[0]).toBe(2); // 0 and -3
    expect(counts[29]).toBe(3); // 0.999, 1 (the last bin is closed) and 7
    const data = fakeData().distributions;
    const all = [...data.matched, ...data.mismatched];
    const lo = Math.min(...all);
    const hi = Math.max(...all);
    for (const xs of [data.matched, data.mismatched]) expect(binValues(xs, lo, hi, 30).reduce((a, b) => a + b, 0)).toBe(500);
  });

  it('makes nice ticks that cover the range', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(1, 10, 9)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const t = niceTicks(0.137, 0.871, 5);
    expect(t[0]).toBeLessThanOrEqual(0.137);
    expect(t.at(-1)).toBeGreaterThanOrEqual(0.871);
    const step = t[1]! - t[0]!;
    for (let i = 1; i < t.length; i++) expect(t[i]! - t[i - 1]!).toBeCloseTo(step, 12);
    expect([1, 2, 5].some((m) => Math.abs(step / 10 ** Math.floor(Math.log10(step)) - m) < 1e-9)).toBe(true);
    expect(niceTicks(3, 3).length).toBeGreaterThanOrEqual(2);
    expect(niceTicks(-0.25, 0.25)).toContain(0);
    expect(formatTick(0.30000000000000004, [0, 0.1])).toBe('0.3');
    expect(formatTick(400, [0, 100, 200])).toBe('400');
  });

  it('emphasises the best value per column in the table', () => {
    const results = fakeData().results;
    const html = renderTable(results);
    const rows = html.split('<tr>').filter((r) => r.includes('scope="row"'));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('<td class="num best" data-col="rsum"><strong>421.4</strong>');
    expect(rows[1]).toContain('<td class="num" data-col="rsum">394.1</td>');
    expect(rows[0]).toContain('data-col="foil"><strong>91.3%</strong>');
    expect(rows[1]).toContain('<td class="num best" data-col="time"><strong>2 min 02 s</strong>'); // faster wins
    results[1]!.rsum = 421.4; // a tie marks both
    expect(renderTable(results).match(/data-col="rsum"><strong>/g)).toHaveLength(2);
  });
});

describe('report in headless Chromium', () => {
  let browser: Browser | undefined;
  let page: Page;
  let dir: string;
  let fileUrl: string;
  const requests: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get update && apt-get install -y chromium\` (as root)`);
    }
    dir = await mkdtemp(join(tmpdir(), 'naaf-report-'));
    const path = await writeReport(dir, fakeData());
    fileUrl = pathToFileURL(path).href;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(fileUrl, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('writes index.html atomically (no temp file left)', async () => {
    expect(await readdir(dir)).toEqual(['index.html']);
    expect((await readFile(join(dir, 'index.html'), 'utf8')).length).toBeGreaterThan(10_000);
  });

  it('shows the comparison table with one row per method', async () => {
    expect(await page.locator('#comparison tbody tr').count()).toBe(2);
    expect(await page.locator('#comparison tbody tr').first().locator('td.best[data-col="rsum"]').count()).toBe(1);
  });

  it('draws every chart with a visible box and marks', async () => {
    const charts = await page.$$eval('svg.chart', (svgs) => svgs.map((s) => {
      const box = s.getBoundingClientRect();
      return { w: box.width, h: box.height, marks: s.querySelectorAll('g.series path, g.hist rect').length };
    }));
    expect(charts.length).toBeGreaterThanOrEqual(4);
    for (const c of charts) {
      expect(c.w).toBeGreaterThan(200);
      expect(c.h).toBeGreaterThan(100);
      expect(c.marks).toBeGreaterThan(0);
    }
  });

  it('overlays both histograms with the two boundary lines', async () => {
    const fig = page.locator('#distributions');
    expect(await fig.locator('svg.chart g.hist').count()).toBe(2);
    for (const name of ['matched', 'mismatched']) expect(await fig.locator(`g.hist[data-name="${name}"] rect`).count()).toBeGreaterThan(5);
    for (const cls of ['threshold', 'thres-safe']) {
      const line = fig.locator(`g.boundary.${cls} line`);
      expect(await line.count()).toBe(1);
      expect((await line.boundingBox())!.height).toBeGreaterThan(100);
      expect(await fig.locator(`g.boundary.${cls} text`).textContent()).toMatch(/0\.(370|240)/);
    }
  });

  it('shows 5 scene pictures per query panel, exactly one marked correct', async () => {
    const panels = await page.$$eval('article.query', (qs) => qs.map((q) => ({
      scenes: [...q.querySelectorAll('.scene')].map((s) => {
        const box = s.querySelector('svg')!.getBoundingClientRect();
        return { w: box.width, h: box.height };
      }),
      correct: q.querySelectorAll('.scene.correct').length,
      badges: q.querySelectorAll('.scene.correct .badge').length,
      mismatched: q.querySelectorAll('.word.mismatched').length,
      swapped: q.querySelectorAll('.word.swapped').length,
    })));
    expect(panels).toHaveLength(2);
    for (const p of panels) {
      expect(p.scenes).toHaveLength(5);
      for (const s of p.scenes) expect(s.w * s.h).toBeGreaterThan(100 * 70);
      expect(p.correct).toBe(1);
      expect(p.badges).toBe(1);
    }
    expect(panels[1]!.mismatched).toBeGreaterThanOrEqual(1);
    expect(panels[1]!.swapped).toBe(1);
  });

  it('renders the hostile caption as text, runs no script, logs no error, fetches nothing', async () => {
    expect(await page.locator('article.query').first().locator('.plain').textContent()).toBe(EVIL);
    expect(await page.locator('script, img').count()).toBe(0);
    expect(errors).toEqual([]);
    expect(requests).toEqual([fileUrl]);
  });

  it('fits a narrow window without horizontal scrolling of the page', async () => {
    await page.setViewportSize({ width: 420, height: 900 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('takes a full-page screenshot that is not blank', async () => {
    const shot = join(dir, 'report.png');
    const png = await page.screenshot({ path: shot, fullPage: true });
    expect(png.length).toBeGreaterThan(50_000);
    // Count distinct colours on a coarse grid, in a separate blank page so the report page's request log stays clean.
    const probe = await browser!.newPage();
    const colours = await probe.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.width;
      canvas.height = img.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const seen = new Set<string>();
      for (let y = 0; y < img.height; y += 7) {
        for (let x = 0; x < img.width; x += 7) seen.add(ctx.getImageData(x, y, 1, 1).data.join(','));
      }
      return seen.size;
    }, png.toString('base64'));
    await probe.close();
    expect(colours).toBeGreaterThan(20);
    console.log(`report screenshot: ${shot}`);
  });
});
