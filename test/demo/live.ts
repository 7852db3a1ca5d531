// The live search page that `npm start` writes (report/live/), checked in headless Chromium with
// WebGPU on SwiftShader, served by `naaf serve`'s server: a typed caption's top-5 per model must
// be the engine's ranking for the same caption in Node (same checkpoints, same test split); an
// out-of-vocabulary word is flagged; a test caption's foil is one click away; a scene click
// recolours the words. On SwiftShader (a software adapter) and without WebGPU at all, the page
// runs on the CPU backend (WASM threads: naaf serve isolates it) and ranks the same. Keeps a screenshot.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { NpyReader, Vocabulary, type NaafEngine } from '../../src/index.js';
import type { LiveManifest, LiveScenes } from '../../src/live/manifest.js';
import { similarityOptionsOf } from '../../src/similarity/modelOptions.js';
import { createStaticServer, listen } from '../../src/serve/static.js';
import { WEBGPU_CHROMIUM_ARGS } from '../browser/args.js';

const CHROMIUM = '/usr/bin/chromium';
/** Where the screenshot is kept (CI uploads the folder). */
export const ARTIFACTS = resolve(__dirname, '../../artifacts');

type Ranked = { imageIndex: number; score: number }[];

/** The engine's top-5 in Node for `text`, per model of the live folder. */
async function nodeRanking(engine: NaafEngine, live: string, manifest: LiveManifest, text: string): Promise<Record<string, Ranked>> {
  const vocab = Vocabulary.fromJSON(readFileSync(join(live, manifest.vocab), 'utf8'));
  const reader = await NpyReader.open(join(live, manifest.images.file));
  const [N, R, D] = reader.shape as [number, number, number];
  const features = { data: await reader.readRows(0, N), shape: [N, R, D] as [number, number, number] };
  await reader.close();
  const ids = Int32Array.from(vocab.encode(text));
  const out: Record<string, Ranked> = {};
  for (const m of manifest.models) {
    const model = await engine.loadModel(join(live, m.file));
    try {
      const images = await model.encodeImages(features);
      const caption = await model.encodeCaptions({ ids, shape: [1, ids.length], lengths: [ids.length] });
      const scores = await engine.similarity(images, caption, similarityOptionsOf(m.method, model));
      const order = Array.from({ length: N }, (_, n) => n).sort((a, b) => scores[b]! - scores[a]!);
      out[m.method] = order.slice(0, 5).map((n) => ({ imageIndex: n, score: scores[n]! }));
    } finally {
      model.destroy();
    }
  }
  return out;
}

async function pageRanking(page: Page, method: string): Promise<Ranked> {
  return page.locator(`#results-${method} li`).evaluateAll((items) => items.map((li) => ({
    imageIndex: Number((li as HTMLElement).dataset.image), score: Number((li as HTMLElement).dataset.score),
  })));
}

/** Same scenes in the same order, scores to f32 tolerance across drivers; a swap only where Node's scores tie. */
function expectSameRanking(got: Ranked, want: Ranked, what: string): void {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, k) => {
    expect(Math.abs(g.score - want[k]!.score), `${what}: score at rank ${k + 1}`).toBeLessThan(1e-4);
    if (g.imageIndex !== want[k]!.imageIndex) {
      const tie = want.find((w) => w.imageIndex === g.imageIndex);
      expect(tie && Math.abs(tie.score - want[k]!.score) < 1e-5, `${what}: rank ${k + 1} is image ${g.imageIndex}, Node has ${want[k]!.imageIndex}`).toBe(true);
    }
  });
}

async function search(page: Page, text: string): Promise<void> {
  await page.locator('#query').fill(text);
  await page.locator('#query').press('Enter');
  await waitDone(page, text);
}

async function waitDone(page: Page, text: string): Promise<void> {
  await page.waitForFunction((t) => {
    const b = document.body.dataset;
    if (b.state === 'error') throw new Error(document.getElementById('notice')?.textContent ?? 'error');
    return b.state === 'done' && b.query === t;
  }, text, { timeout: 180_000 });
}

export async function checkLivePage(engine: NaafEngine, o: { report: string; data: string; livePath: string; root: string }): Promise<void> {
  const live = o.livePath;
  for (const file of ['index.html', 'app.js', 'naaf-webgpu.js', 'live.json', 'naaf.safetensors', 'scan-t2i.safetensors', 'test_ims.npy', 'test_caps.txt', 'vocab.json', 'scenes.json']) {
    expect(existsSync(join(live, file)), file).toBe(true);
  }
  expect(readdirSync(o.report).filter((name) => name.startsWith('.live'))).toEqual([]); // nothing half-written left
  const manifest = JSON.parse(readFileSync(join(live, 'live.json'), 'utf8')) as LiveManifest;
  expect(manifest.models.map((m) => m.method)).toEqual(['naaf', 'scan-t2i']);
  const captions = readFileSync(join(live, 'test_caps.txt'), 'utf8').split('\n').filter((l) => l !== '');
  const scenes = JSON.parse(readFileSync(join(live, 'scenes.json'), 'utf8')) as LiveScenes;
  expect(captions).toHaveLength(5 * manifest.images.count);

  let server: Server | undefined;
  let browser: Browser | undefined;
  try {
    server = await createStaticServer(o.report);
    const port = await listen(server, 0, '127.0.0.1');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(`http://localhost:${port}/live/`);
    await page.waitForFunction(() => ['ready', 'error', 'no-engine'].includes(document.body.dataset.state ?? ''), null, { timeout: 240_000 });
    expect(await page.locator('body').getAttribute('data-state'), `${await page.locator('#status').textContent()} ${await page.locator('#noengine').textContent()}`).toBe('ready');
    // SwiftShader is a software adapter: 'auto' runs the page on the CPU backend, with threads (naaf serve isolates the page).
    expect(await page.locator('#status').textContent()).toMatch(/^wasm: \d+ threads, SIMD128/);

    // A typed caption (not a test caption): both columns equal the engine in Node.
    const typed = 'a large blue rubber sphere left of a small red cube .';
    await search(page, typed);
    const want = await nodeRanking(engine, live, manifest, typed);
    for (const m of manifest.models) expectSameRanking(await pageRanking(page, m.method), want[m.method]!, `${m.label}, "${typed}"`);
    expect(await page.locator('#words .word').count()).toBe(2 + typed.split(' ').length); // <start>, tokens, <end>

    // A word outside the vocabulary is flagged, in the notice and on its chip.
    await search(page, 'a small zebra cube');
    expect(await page.locator('#notice').textContent()).toContain('“zebra”');
    expect(await page.locator('#words .word.unknown').allTextContents()).toEqual([expect.stringMatching(/^zebra/)]);

    // A test caption from the list, then its foil with one click: the swapped word is marked and
    // the source scene framed when it is retrieved.
    const foil = scenes.foils[3]!;
    await page.locator('#examples').selectOption(String(foil.captionIndex));
    await waitDone(page, captions[foil.captionIndex]!);
    expect(await page.locator('#foil').textContent()).toBe(`Its foil: “${foil.swapped[0]}” → “${foil.swapped[1]}”`);
    await page.locator('#foil').click();
    await waitDone(page, foil.foil);
    expect(await page.locator('#query').inputValue()).toBe(foil.foil);
    expect(await page.locator('#words .word.swapped').allTextContents()).toEqual([expect.stringMatching(new RegExp(`^${foil.swapped[1]}`))]);
    const foilWant = await nodeRanking(engine, live, manifest, foil.foil);
    expectSameRanking(await pageRanking(page, 'naaf'), foilWant.naaf!, `NAAF, foil "${foil.foil}"`);
    const framed = await page.locator('#results-naaf li.correct').evaluateAll((items) => items.map((li) => Number((li as HTMLElement).dataset.image)));
    expect(framed).toEqual(foilWant.naaf!.some((r) => r.imageIndex === foil.imageIndex) ? [foil.imageIndex] : []);

    // Selecting another scene recolours the words against it.
    const before = await page.locator('#words').innerHTML();
    const other = page.locator('#results-scan-t2i li').nth(4);
    const otherImage = Number(await other.getAttribute('data-image'));
    await other.click();
    await waitDone(page, foil.foil);
    expect(await page.locator('li.selected').evaluateAll((items) => items.map((li) => Number((li as HTMLElement).dataset.image)))).toContain(otherImage);
    if (otherImage !== foilWant.naaf![0]!.imageIndex) expect(await page.locator('#words').innerHTML()).not.toBe(before);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = await page.screenshot({ path: join(ARTIFACTS, 'live-search.png'), fullPage: true });
    expect(shot.length).toBeGreaterThan(50_000);
    expect(errors).toEqual([]);
    await browser.close();

    // Without WebGPU the page runs on the CPU backend, and ranks the same.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-features=WebGPU', '--no-first-run', '--disable-background-networking'] });
    const plain = await browser.newPage();
    await plain.goto(`http://localhost:${port}/live/`);
    await plain.waitForFunction(() => ['ready', 'error', 'no-engine'].includes(document.body.dataset.state ?? ''), null, { timeout: 240_000 });
    expect(await plain.locator('body').getAttribute('data-state'), await plain.locator('#status').textContent() ?? '').toBe('ready');
    expect(await plain.locator('#status').textContent()).toMatch(/^wasm: /);
    await search(plain, typed);
    for (const m of manifest.models) expectSameRanking(await pageRanking(plain, m.method), want[m.method]!, `${m.label} without WebGPU, "${typed}"`);
  } finally {
    await browser?.close();
    server?.closeAllConnections();
    server?.close();
  }
}
