// The browser bundle in real Chromium (Debian's, driven by playwright-core) with WebGPU on its
// software adapter (SwiftShader), on a page served from http://localhost: the golden cases for
// NAAF, SCAN t2i and SCAN i2t, topK, a model loaded from a URL with progress, encoding plus
// similarity against the same model in Node, a bad input's error, and a Web Worker; and the same
// bundle's CPU backend (WASM SIMD): on one thread where the page is not cross-origin isolated,
// on worker threads where it is (COOP/COEP), and inside a Web Worker.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN_CASES, loadGolden, maxAbsDiff } from '../fixtures.js';
import { sharedEngine } from '../gpu.js';
import { WEBGPU_CHROMIUM_ARGS } from './args.js';
import { ISOLATION_HEADERS } from '../../src/serve/static.js';

const CHROMIUM = '/usr/bin/chromium';
const root = resolve(__dirname, '../..');

const FILES: Record<string, [string, string]> = {
  '/': [join(root, 'test/browser/page.html'), 'text/html'],
  '/browser.js': [join(root, 'dist/browser.js'), 'text/javascript'],
  '/worker.js': [join(root, 'test/browser/worker.js'), 'text/javascript'],
  '/model.pth.tar': [join(root, 'test/fixtures/checkpoints/naaf_basic_tiny.pth.tar'), 'application/octet-stream'],
};

let server: Server;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];
const engine = await sharedEngine();

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (as root; .ci/install-system.sh does)`);
  if (!existsSync(FILES['/browser.js'][0])) throw new Error('dist/browser.js is missing: run `npm run build` (npm test does)');
  server = createServer((req, res) => {
    // /isolated/... serves the same files cross-origin isolated, as naaf serve does.
    const isolated = (req.url ?? '').startsWith('/isolated/');
    const file = FILES[(req.url ?? '/').split('?')[0].replace(/^\/isolated/, '') || '/'];
    if (!file) {
      res.writeHead(404);
      res.end();
      return;
    }
    const body = readFileSync(file[0]);
    res.writeHead(200, { 'content-type': file[1], 'content-length': String(body.byteLength), ...(isolated ? ISOLATION_HEADERS : {}) });
    res.end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: WEBGPU_CHROMIUM_ARGS });
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // navigator.gpu exists only in secure contexts: http://localhost is one.
  await page.goto(`http://localhost:${(server.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady, null, { timeout: 60_000 });
});

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  server?.close();
});

type Batch = { images: number[]; imageShape: number[]; captions: number[]; captionShape: number[]; lengths: number[] };

function batchOf(name: string): Batch & { c: ReturnType<typeof loadGolden> } {
  const c = loadGolden(name);
  return { c, images: Array.from(c.images), imageShape: [c.N, c.R, c.D], captions: Array.from(c.captions), captionShape: [c.M, c.L, c.D], lengths: Array.from(c.lengths) };
}

type PageEngine = { engine: (options?: Record<string, unknown>) => Promise<import('../../src/index.js').NaafEngine> };

/** Runs `options` on the batch in the page, on the page's engine for `engineOptions` (compiling is the slow part on SwiftShader). */
function similarityInPage(batch: Batch, options: Record<string, unknown>, engineOptions?: Record<string, unknown>, on: Page = page): Promise<{ sims?: number[]; error?: string; runtime?: string; line?: string }> {
  return on.evaluate(async ({ b, options, engineOptions }) => {
    const engine = await (window as unknown as PageEngine).engine(engineOptions);
    try {
      const images = { data: Float32Array.from(b.images), shape: b.imageShape as [number, number, number] };
      const captions = { data: Float32Array.from(b.captions), shape: b.captionShape as [number, number, number], lengths: b.lengths };
      const sims = await engine.similarity(images, captions, options as never);
      return { sims: Array.from(sims), runtime: engine.info.runtime, line: engine.describe() };
    } catch (error) {
      return { error: String((error as Error).message) };
    }
  }, { b: batch, options, engineOptions });
}

describe('in headless Chromium with WebGPU (SwiftShader)', () => {
  it.each(GOLDEN_CASES)('golden %s: NAAF, SCAN t2i and SCAN i2t match the float64 values to 1e-5', async (name) => {
    const b = batchOf(name);
    const p = b.c.params;
    const cases: [string, Record<string, unknown>][] = [
      ['naaf_sims', { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax }],
      ['scan_t2i_lse', { method: 'scan-t2i', lambdaSoftmax: p.t2i_lambda_softmax, lambdaLse: p.t2i_lambda_lse }],
      ['scan_i2t_avg', { method: 'scan-i2t', lambdaSoftmax: p.i2t_lambda_softmax, aggregation: 'mean' }],
    ];
    for (const [key, options] of cases) {
      const result = await similarityInPage(b, options);
      expect(result.error, key).toBeUndefined();
      expect(result.runtime).toBe('navigator');
      expect(maxAbsDiff(result.sims!, b.c.expected[key]), `${name} ${key}`).toBeLessThan(1e-5);
    }
  });

  it('topK in the page ranks as the page\'s own similarity matrix does', async () => {
    const b = batchOf('case2_small');
    const options = { method: 'naaf', threshold: b.c.params.threshold };
    const result = await page.evaluate(async ({ b, options }) => {
      const engine = await (window as unknown as { engine: () => Promise<import('../../src/index.js').NaafEngine> }).engine();
      const images = { data: Float32Array.from(b.images), shape: b.imageShape as [number, number, number] };
      const captions = { data: Float32Array.from(b.captions), shape: b.captionShape as [number, number, number], lengths: b.lengths };
      const sims = await engine.similarity(images, captions, options as never);
      const top = await engine.topK(images, captions, { ...(options as never), k: 2, direction: 't2i' });
      return { sims: Array.from(sims), indices: Array.from(top.indices) };
    }, { b, options });
    const { N, M } = b.c;
    for (let m = 0; m < M; m++) {
      const order = Array.from({ length: N }, (_, n) => n).sort((x, y) => result.sims[y * M + m] - result.sims[x * M + m] || x - y);
      expect(result.indices.slice(2 * m, 2 * m + 2)).toEqual(order.slice(0, 2));
    }
  });

  it('a model from a URL with byte progress; encoding and similarity match the same model in Node', async () => {
    const spec = JSON.parse(readFileSync(join(root, 'test/fixtures/checkpoints/naaf_basic_tiny.json'), 'utf8'));
    const feats: number[][][] = spec.inputs.region_feats.slice(0, 2);
    const ids = [[1, 5, 9, 2], [1, 7, 2, 0]];
    const lengths = [4, 3];
    const inBrowser = await page.evaluate(async ({ feats, ids, lengths }) => {
      const engine = await (window as unknown as { engine: () => Promise<import('../../src/index.js').NaafEngine> }).engine();
      const progress: { loaded: number; total: number | null }[] = [];
      const model = await engine.loadModel('/model.pth.tar', { onProgress: (p) => progress.push(p) });
      const images = await model.encodeImages({ data: Float32Array.from(feats.flat(2)), shape: [feats.length, feats[0].length, feats[0][0].length] });
      const captions = await model.encodeCaptions({ ids: Int32Array.from(ids.flat()), shape: [ids.length, ids[0].length], lengths });
      const sims = await engine.similarity(images, captions, { method: 'naaf', threshold: model.config.threshold! });
      model.destroy();
      return { progress, sims: Array.from(sims), threshold: model.config.threshold };
    }, { feats, ids, lengths });
    const bytes = readFileSync(FILES['/model.pth.tar'][0]).byteLength;
    expect(inBrowser.progress.length).toBeGreaterThan(0);
    expect(inBrowser.progress[inBrowser.progress.length - 1]).toEqual({ loaded: bytes, total: bytes });
    const model = await engine.loadModel(FILES['/model.pth.tar'][0]);
    expect(inBrowser.threshold).toBe(model.config.threshold);
    const images = await model.encodeImages({ data: Float32Array.from(feats.flat(2)), shape: [feats.length, feats[0].length, feats[0][0].length] });
    const captions = await model.encodeCaptions({ ids: Int32Array.from(ids.flat()), shape: [2, 4], lengths });
    const sims = await engine.similarity(images, captions, { method: 'naaf', threshold: model.config.threshold! });
    expect(maxAbsDiff(inBrowser.sims, sims)).toBeLessThan(1e-5);
  });

  it('a bad input is a clear error in the page too', async () => {
    const b = batchOf('case1_tiny');
    const result = await similarityInPage({ ...b, lengths: b.lengths.map(() => 99) }, { method: 'scan-t2i' });
    expect(result.error).toMatch(/captions\.lengths\[0\] must be an integer in \[1, L = \d+\], got 99/);
    const missing = await page.evaluate(async () => {
      const engine = await (window as unknown as { engine: () => Promise<import('../../src/index.js').NaafEngine> }).engine();
      try {
        await engine.loadModel('/no-such-model.pth.tar');
        return 'loaded';
      } catch (error) {
        return String((error as Error).message);
      }
    });
    expect(missing).toMatch(/loadModel: http:\/\/localhost:\d+\/no-such-model\.pth\.tar answered HTTP 404/);
  });

  it('the same engine in a Web Worker', async () => {
    const b = batchOf('case1_tiny');
    const options = { method: 'scan-t2i', lambdaSoftmax: b.c.params.t2i_lambda_softmax, lambdaLse: b.c.params.t2i_lambda_lse };
    const result = await page.evaluate(({ b, options }) => new Promise<{ sims?: number[]; error?: string; runtime?: string; inWorker?: boolean }>((done) => {
      const worker = new Worker('/worker.js', { type: 'module' });
      worker.onmessage = (event) => { done(event.data); worker.terminate(); };
      worker.onerror = (event) => done({ error: event.message });
      worker.postMessage({
        images: { data: Float32Array.from(b.images), shape: b.imageShape },
        captions: { data: Float32Array.from(b.captions), shape: b.captionShape, lengths: b.lengths },
        options,
      });
    }), { b, options });
    expect(result.error).toBeUndefined();
    expect(result.inWorker).toBe(true);
    expect(result.runtime).toBe('navigator');
    expect(maxAbsDiff(result.sims!, b.c.expected.scan_t2i_lse)).toBeLessThan(1e-5);
    expect(pageErrors).toEqual([]);
  });
});

describe('the CPU backend (WASM SIMD) in headless Chromium', () => {
  const cases = (c: ReturnType<typeof loadGolden>): [string, Record<string, unknown>][] => [
    ['naaf_sims', { method: 'naaf', threshold: c.params.threshold, lambdaSoftmax: c.params.lambda_softmax }],
    ['scan_t2i_lse', { method: 'scan-t2i', lambdaSoftmax: c.params.t2i_lambda_softmax, lambdaLse: c.params.t2i_lambda_lse }],
    ['scan_i2t_avg', { method: 'scan-i2t', lambdaSoftmax: c.params.i2t_lambda_softmax, aggregation: 'mean' }],
  ];

  it("a page that is not cross-origin isolated: one thread (and 'auto' takes it over SwiftShader); the golden values to 1e-5", async () => {
    for (const name of ['case2_small', 'case4_d128_lam9']) {
      const b = batchOf(name);
      for (const [key, options] of cases(b.c)) {
        const result = await similarityInPage(b, options, { backend: 'wasm' });
        expect(result.error, key).toBeUndefined();
        expect(result.runtime).toBe('wasm');
        expect(result.line).toMatch(/^wasm: 1 thread, SIMD128.*not cross-origin isolated/);
        expect(maxAbsDiff(result.sims!, b.c.expected[key]), `${name} ${key}`).toBeLessThan(1e-5);
      }
    }
    const auto = await similarityInPage(batchOf('case1_tiny'), { method: 'scan-t2i' }, { backend: 'auto' });
    expect(auto.runtime).toBe('wasm');
  });

  it('a cross-origin isolated page (COOP/COEP): worker threads over shared memory, the same values; in a Web Worker too', async () => {
    const isolated = await browser!.newPage();
    try {
      await isolated.goto(`http://localhost:${(server.address() as AddressInfo).port}/isolated/`);
      await isolated.waitForFunction(() => (window as unknown as { harnessReady?: boolean }).harnessReady, null, { timeout: 60_000 });
      expect(await isolated.evaluate(() => crossOriginIsolated)).toBe(true);
      const b = batchOf('case2_small');
      for (const [key, options] of cases(b.c)) {
        const result = await similarityInPage(b, options, { backend: 'wasm', threads: 2 }, isolated);
        expect(result.error, key).toBeUndefined();
        expect(result.line).toMatch(/^wasm: 2 threads, SIMD128/);
        expect(maxAbsDiff(result.sims!, b.c.expected[key]), key).toBeLessThan(1e-5);
      }
      const t = batchOf('case1_tiny');
      const inWorker = await isolated.evaluate(({ b, options }) => new Promise<{ sims?: number[]; error?: string; line?: string; inWorker?: boolean }>((done) => {
        const worker = new Worker('/isolated/worker.js', { type: 'module' });
        worker.onmessage = (event) => { done(event.data); worker.terminate(); };
        worker.onerror = (event) => done({ error: event.message });
        worker.postMessage({
          images: { data: Float32Array.from(b.images), shape: b.imageShape },
          captions: { data: Float32Array.from(b.captions), shape: b.captionShape, lengths: b.lengths },
          options, engineOptions: { backend: 'wasm', threads: 2 },
        });
      }), { b: t, options: cases(t.c)[1][1] });
      expect(inWorker.error).toBeUndefined();
      expect(inWorker.inWorker).toBe(true);
      expect(inWorker.line).toMatch(/^wasm: 2 threads/);
      expect(maxAbsDiff(inWorker.sims!, t.c.expected.scan_t2i_lse)).toBeLessThan(1e-5);
    } finally {
      await isolated.close();
    }
  });
});
