// The main job at toy sizes: dataset, both trainings, evaluation, the comparison table, the
// report opened in a real headless Chromium (table, charts and scene pictures render), and the
// live search page served by `naaf serve`'s server and used in Chromium with WebGPU.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { expect, it } from 'vitest';
import { runDemo } from '../../src/demo/run.js';
import { randomRecall } from '../../src/eval/recall.js';
import { sharedEngine } from '../gpu.js';
import { checkLivePage } from './live.js';

const engine = await sharedEngine();
const CHROMIUM = '/usr/bin/chromium';
const root = mkdtempSync(join(tmpdir(), 'naaf-demo-'));
const paths = { data: join(root, 'scenes'), runs: join(root, 'runs'), report: join(root, 'report') };
let demo: Awaited<ReturnType<typeof runDemo>> | undefined;

it('npm start at toy sizes: table, foil accuracy and a report that renders in Chromium', async () => {
  const lines: string[] = [];
  demo = await runDemo(engine, {
    ...paths,
    // At these sizes the models learn in 4 epochs of batch 10 at lr 1e-2 (both; SCAN t2i keeps its warm-up epoch).
    images: 40, regions: 6, imgDim: 16, seed: 1, epochs: 4, batchSize: 10, embedSize: 16, wordDim: 8, learningRate: 1e-2,
    log: (line) => lines.push(line),
  });
  const { results, table, reportPath, curves, warnings } = demo;
  expect(results.map((r) => r.method)).toEqual(['NAAF', 'SCAN t2i']);
  // What the main job exists to show, at test sizes: NAAF learns over its epochs, neither model
  // collapses, and both rank the 40 test images far better than chance.
  const naafCurve = curves[0].points.map((p) => p.rsum);
  expect(naafCurve[naafCurve.length - 1], `NAAF dev rsum per epoch ${naafCurve}`).toBeGreaterThan(naafCurve[0]);
  expect(warnings).toEqual([]);
  for (const curve of curves) expect(curve.points.some((p) => p.collapsed), curve.method).toBe(false);
  const chance = randomRecall(40).rsum; // about 77; seen on lavapipe: NAAF 207.5, SCAN t2i 232.0
  for (const r of results) {
    expect(r.rsum, `${r.method} test rsum against chance ${chance.toFixed(1)}`).toBeGreaterThan(2 * chance);
    expect(r.foilAccuracy).toBeGreaterThanOrEqual(0);
    expect(r.foilAccuracy).toBeLessThanOrEqual(1);
  }
  console.log(`demo test: ${results.map((r) => `${r.method} test rsum ${r.rsum.toFixed(1)}`).join(', ')}; chance ${chance.toFixed(1)}; NAAF dev ${naafCurve.map((x) => x.toFixed(1)).join(' ')}`);
  expect(table.split('\n')).toHaveLength(4);
  expect(lines.some((l) => /NAAF epoch 4\/4: loss [\d.]+, dev rsum/.test(l))).toBe(true);
  expect(existsSync(reportPath)).toBe(true);

  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's Chromium with \`apt-get update && apt-get install -y chromium\``);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(pathToFileURL(reportPath).href);
    expect(await page.locator('#comparison tbody tr').count()).toBe(2);
    const charts = page.locator('svg.chart');
    expect(await charts.count()).toBeGreaterThanOrEqual(4);
    for (let i = 0; i < await charts.count(); i++) expect((await charts.nth(i).boundingBox())!.width).toBeGreaterThan(100);
    const scenes = page.locator('.scene');
    expect(await scenes.count()).toBeGreaterThanOrEqual(10);
    const box = (await scenes.first().boundingBox())!;
    expect(box.width * box.height).toBeGreaterThan(5000);
    expect(await page.locator('#distributions').count()).toBe(1);
    const shot = await page.screenshot({ path: join(root, 'report.png'), fullPage: true });
    expect(shot.length).toBeGreaterThan(50_000);
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
}, 300_000);

it('writes report/live/, and the page ranks a typed caption in Chromium exactly as the engine does in Node', async (context) => {
  if (!demo) context.skip(); // the main job above failed, and says why
  await checkLivePage(engine, { report: paths.report, data: paths.data, livePath: demo!.livePath, root });
}, 300_000);

it('npm start stopped (Ctrl-C) saves the running training\'s checkpoint and says so', async () => {
  const { DemoStoppedError } = await import('../../src/demo/run.js');
  let steps = 0;
  const run = runDemo(engine, {
    ...paths, runs: join(root, 'stopped-runs'),
    images: 40, regions: 6, imgDim: 16, seed: 1, epochs: 2, batchSize: 20, embedSize: 16, wordDim: 8,
    log: () => {}, shouldStop: () => ++steps >= 2,
  });
  const error = await run.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DemoStoppedError);
  expect((error as InstanceType<typeof DemoStoppedError>).label).toBe('NAAF');
  expect(existsSync((error as InstanceType<typeof DemoStoppedError>).checkpoint)).toBe(true);
}, 120_000);
