// naaf-webgpu/search on a small generated gallery: an index built in batches (IVF_PQ over the
// regions' MaxSim), resumed after a stop, searched; the exact stage must equal the engine's own
// scores, and with K' = the whole gallery the top-k must equal exhaustive NAAF. Bad input:
// foreign and incomplete directories, another checkpoint, empty queries, K' < k, unknown words.
// A table kept outside the index folder (--table: another folder here, object storage in use).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NaafEngine, Vocabulary } from '../../src/index.js';
import type { ModelConfig } from '../../src/model/weights.js';
import { buildIndex, SearchIndex } from '../../src/search/index.js';
import { coarseRows, imageBatch, imageSchema, isUri, loadLance, rowsWithRegions, tableLocation } from '../../src/search/lance.js';
import { embedTower, initStudent, studentToSafetensors, vectorTopK } from '../../src/search/student.js';
import { readManifest } from '../../src/search/manifest.js';
import { sharedEngine } from '../gpu.js';
import { writeGallery } from './fixture.js';

const engine = await sharedEngine();
const root = mkdtempSync(join(tmpdir(), 'naaf-search-'));
const data = join(root, 'scenes');
const N = 300;
let config: ModelConfig;
const checkpoint = join(root, 'naaf.safetensors');
const other = join(root, 'other.safetensors');
const captions = () => readFileSync(join(data, 'test_caps.txt'), 'utf8').split('\n').filter((l) => l !== '');

/** Exhaustive scores of every gallery image for `texts`, [N, M], from the model directly. */
async function exhaustive(texts: string[], method: 'naaf' | 'scan-t2i' = 'naaf'): Promise<Float32Array> {
  const model = await engine.loadModel(checkpoint);
  try {
    const vocab = Vocabulary.fromJSON(readFileSync(join(data, 'scenes_vocab.json'), 'utf8'));
    const { NpyReader } = await import('../../src/index.js');
    const reader = await NpyReader.open(join(data, 'test_ims.npy'));
    const [n, R, D] = reader.shape as [number, number, number];
    const images = await model.encodeImages({ data: await reader.readRows(0, n), shape: [n, R, D] });
    await reader.close();
    const seqs = texts.map((t) => vocab.encode(t));
    const L = Math.max(...seqs.map((s) => s.length));
    const ids = new Int32Array(texts.length * L).fill(vocab.padId);
    seqs.forEach((s, m) => ids.set(s, m * L));
    const words = await model.encodeCaptions({ ids, shape: [texts.length, L], lengths: seqs.map((s) => s.length) });
    return engine.similarity(images, words, method === 'naaf' ? { method: 'naaf', threshold: config.threshold ?? 0, lambdaSoftmax: config.lambdaSoftmax } : { method: 'scan-t2i' });
  } finally {
    model.destroy();
  }
}

function topOf(scores: Float32Array, M: number, m: number, k: number): number[] {
  return Array.from({ length: N }, (_, n) => n).sort((a, b) => scores[b * M + m]! - scores[a * M + m]! || a - b).slice(0, k);
}

/** With K' = the whole gallery, the index's top-10 for `caption` is exhaustive NAAF's. */
async function expectExhaustiveTop10(out: string, caption: string): Promise<void> {
  const index = await SearchIndex.open(engine, out, checkpoint);
  try {
    const want = await exhaustive([caption]);
    expect((await index.query([caption], { k: 10, candidates: N })).results[0]!.hits.map((h) => h.id)).toEqual(topOf(want, 1, 0, 10));
  } finally {
    index.close();
  }
}

beforeAll(async () => {
  ({ config } = await writeGallery(root, N));
});

describe('an IVF_PQ MaxSim index, built in batches and resumed', () => {
  const out = join(root, 'index-maxsim');
  let stoppedAt = 0;

  it('stops after a batch, is refused while incomplete, resumes and completes', async () => {
    let batches = 0;
    const first = await buildIndex(engine, { data, split: 'test', checkpoint, out, batchSize: 64, ann: 'ivf_pq', shouldStop: () => ++batches >= 2 });
    expect(first.stopped).toBe(true);
    stoppedAt = 128;
    const partial = await readManifest(out);
    expect(partial?.complete).toBe(false);
    await expect(SearchIndex.open(engine, out, checkpoint)).rejects.toThrow(/is incomplete \(its build was interrupted\); rerun the same `naaf index` command to resume it/);
    const progress: number[] = [];
    const second = await buildIndex(engine, { data, split: 'test', checkpoint, out, batchSize: 64, ann: 'ivf_pq', onProgress: (done) => progress.push(done) });
    expect(second.resumedFrom).toBe(stoppedAt);
    expect(progress).toEqual([128, 192, 256, 300]);
    const manifest = (await readManifest(out))!;
    expect(manifest).toMatchObject({ complete: true, rows: N, coarse: 'maxsim', ann: { kind: 'ivf_pq' }, embedSize: 16, data: { split: 'test', images: N, regions: 5 } });
    // Built again: nothing to do.
    expect((await buildIndex(engine, { data, split: 'test', checkpoint, out })).resumedFrom).toBe(N);
  });

  it('re-ranks exactly: scores equal the engine\'s, and with K\' = the gallery the top-10 is exhaustive NAAF\'s', async () => {
    const index = await SearchIndex.open(engine, out, checkpoint);
    try {
      const texts = [captions()[7]!, captions()[123]!, 'a large cyan glass torus .'];
      const want = await exhaustive(texts);
      const all = await index.query(texts, { k: 10, candidates: N });
      all.results.forEach((r, m) => {
        expect(r.hits.map((h) => h.id), texts[m]).toEqual(topOf(want, texts.length, m, 10));
        for (const h of r.hits) expect(Math.abs(h.score - want[h.id * texts.length + m]!)).toBeLessThan(1e-6);
      });
      const short = await index.query(texts, { k: 5, candidates: 40 });
      short.results.forEach((r, m) => {
        expect(r.hits).toHaveLength(5);
        for (const h of r.hits) {
          expect(Math.abs(h.score - want[h.id * texts.length + m]!)).toBeLessThan(1e-6);
          expect(h.coarseRank).toBeGreaterThanOrEqual(1);
          expect(h.coarseRank).toBeLessThanOrEqual(40);
        }
        expect(r.hits.map((h) => h.score)).toEqual([...r.hits.map((h) => h.score)].sort((a, b) => b - a));
      });
      expect(Object.keys(short.timings)).toEqual(['encodeMs', 'coarseMs', 'gatherMs', 'exactMs']);
      // Captions in chunks whose shortlists fit a pass (2 of the 3 here), with the same results.
      const chunked = await index.query(texts, { k: 5, candidates: 40, maxImagesPerPass: 100 });
      expect(chunked.results.map((r) => r.hits.map((h) => [h.id, h.score]))).toEqual(short.results.map((r) => r.hits.map((h) => [h.id, h.score])));
      // Shortlists larger than one GPU pass: ids from the coarse search, regions read per pass.
      const passes = await index.query(texts, { k: 5, candidates: 40, maxImagesPerPass: 7, terms: true });
      expect(passes.results.map((r) => r.hits.map((h) => [h.id, h.score]))).toEqual(short.results.map((r) => r.hits.map((h) => [h.id, h.score])));
      expect(passes.results[0]!.hits[0]!.terms).toHaveLength(texts[0]!.split(' ').length + 2);
      // Each hit's terms are its own: their mean over the words is its exact score.
      for (const r of passes.results) {
        for (const h of r.hits) {
          const mean = h.terms!.reduce((sum, w) => sum + w.neg + w.posF + w.posR, 0) / h.terms!.length;
          expect(Math.abs(mean - h.score)).toBeLessThan(1e-5);
        }
      }
    } finally {
      index.close();
    }
  });

  it('resident regions (an f32 gallery read once from the table) give the same hits and terms, also on a default-limits device', async () => {
    const texts = [captions()[7]!, captions()[123]!, 'a large cyan glass torus .'];
    const plain = await SearchIndex.open(engine, out, checkpoint);
    const want = await plain.query(texts, { k: 5, candidates: 40, terms: true });
    plain.close();
    const { NaafEngine } = await import('../../src/index.js');
    const device = await (await (engine as unknown as { ctx: { runtimeGpu(): GPU } }).ctx.runtimeGpu().requestAdapter())!.requestDevice();
    const small = await NaafEngine.create({ device });
    try {
      for (const e of [engine, small]) {
        const index = await SearchIndex.open(e, out, checkpoint, { resident: true });
        try {
          expect(index.resident).toBe(true);
          const got = await index.query(texts, { k: 5, candidates: 40, terms: true });
          expect(got.results.map((r) => r.hits.map((h) => [h.id, h.score, h.coarseRank]))).toEqual(want.results.map((r) => r.hits.map((h) => [h.id, h.score, h.coarseRank])));
          expect(got.results[0]!.hits[0]!.terms).toEqual(want.results[0]!.hits[0]!.terms);
          expect(e.stats().bytesResident).toBeGreaterThanOrEqual(N * 5 * 16 * 4);
        } finally {
          index.close();
        }
      }
      await expect(SearchIndex.open(engine, out, checkpoint, { resident: true, maxGpuBytes: 1000 })).rejects.toThrow(/maxGpuBytes = 1000/);
      // Built on the default-limits device too (encoding in batches), and searched there: exhaustive NAAF's top-10.
      const built = join(root, 'index-default-limits');
      await buildIndex(small, { data, split: 'test', checkpoint, out: built, batchSize: 128, ann: 'flat' });
      const index = await SearchIndex.open(small, built, checkpoint);
      try {
        const exhaustiveTop = topOf(await exhaustive([texts[0]!]), 1, 0, 10);
        expect((await index.query([texts[0]!], { k: 10, candidates: N })).results[0]!.hits.map((h) => h.id)).toEqual(exhaustiveTop);
      } finally {
        index.close();
      }
    } finally {
      small.destroy();
      device.destroy();
    }
  });

  it('reports words outside the vocabulary, gives NAAF terms on request, and refuses bad queries', async () => {
    const index = await SearchIndex.open(engine, out, checkpoint);
    try {
      const { results } = await index.query(['a small zebra cube'], { k: 3, candidates: 20, terms: true });
      expect(results[0]!.unknown).toEqual(['zebra']);
      expect(results[0]!.hits[0]!.terms!.map((t) => t.token)).toEqual(['<start>', 'a', 'small', 'zebra', 'cube', '<end>']);
      await expect(index.query([])).rejects.toThrow('search.query: captions must be a non-empty array of strings, got an empty array');
      await expect(index.query(['  '])).rejects.toThrow('search.query: captions[0] has no words ("  ")');
      await expect(index.query(['a red cube'], { k: 10, candidates: 5 })).rejects.toThrow("candidates (K' = 5) must be at least k (10)");
      // K' past the gallery: all of it (documented).
      expect((await index.query(['a red cube'], { k: 3, candidates: 10_000 })).results[0]!.hits).toHaveLength(3);
    } finally {
      index.close();
    }
  });

  it('re-ranks with SCAN t2i when asked: the top-10 over the whole gallery is exhaustive SCAN\'s', async () => {
    const index = await SearchIndex.open(engine, out, checkpoint, { method: 'scan-t2i' });
    try {
      const texts = [captions()[11]!, captions()[250]!];
      const want = await exhaustive(texts, 'scan-t2i');
      const { results } = await index.query(texts, { k: 10, candidates: N });
      results.forEach((r, m) => {
        expect(r.hits.map((h) => h.id)).toEqual(topOf(want, texts.length, m, 10));
        for (const h of r.hits) expect(Math.abs(h.score - want[h.id * texts.length + m]!)).toBeLessThan(1e-6);
      });
      await expect(index.query(texts, { terms: true })).rejects.toThrow("terms are NAAF's per-word terms; this index is searched with scan-t2i");
    } finally {
      index.close();
    }
  });

  it('the command line gives the same hits as the API, as JSON', async () => {
    const cli = resolve(__dirname, '../../dist/cli.js');
    if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does)');
    const text = captions()[42]!;
    const json = JSON.parse(execFileSync(process.execPath, [cli, 'search', '--index', out, '--checkpoint', checkpoint, text, '--k', '5', '--candidates', '60', '--json'], { encoding: 'utf8' }));
    const index = await SearchIndex.open(engine, out, checkpoint);
    try {
      const api = await index.query([text], { k: 5, candidates: 60 });
      expect(json.results[0].hits.map((h: { id: number }) => h.id)).toEqual(api.results[0]!.hits.map((h) => h.id));
      expect(json.images).toBe(N);
      // `naaf index --table`: the table elsewhere, found again by `naaf search` through the manifest.
      const away = join(root, 'cli-index');
      const printed = execFileSync(process.execPath, [cli, 'index', '--data', data, '--split', 'test', '--checkpoint', checkpoint, '--out', away, '--table', join(root, 'cli-table'), '--ann', 'ivf_pq', '--batch-size', '100'], { encoding: 'utf8' });
      expect(printed).toMatch(/table at .*cli-table/);
      const again = JSON.parse(execFileSync(process.execPath, [cli, 'search', '--index', away, '--checkpoint', checkpoint, text, '--k', '5', '--candidates', '60', '--json'], { encoding: 'utf8' }));
      expect(again.results[0].hits.map((h: { id: number }) => h.id)).toEqual(json.results[0].hits.map((h: { id: number }) => h.id));
    } finally {
      index.close();
    }
  });
});

describe('the same index on the CPU backend', () => {
  const out = join(root, 'index-maxsim');

  it('searched there (from the table, and resident): the hits of the WebGPU engine, scores within 1e-5; built there, the same index; and from the command line', async () => {
    const cpu = await NaafEngine.create({ backend: 'wasm', threads: 2 });
    const texts = [captions()[7]!, captions()[123]!];
    try {
      const gpuIndex = await SearchIndex.open(engine, out, checkpoint);
      const want = await gpuIndex.query(texts, { k: 10, candidates: 60, terms: true });
      gpuIndex.close();
      for (const resident of [false, true]) {
        const index = await SearchIndex.open(cpu, out, checkpoint, { resident });
        try {
          const got = await index.query(texts, { k: 10, candidates: 60, terms: true });
          got.results.forEach((r, m) => {
            expect(r.hits.map((h) => h.id), `resident ${resident}`).toEqual(want.results[m]!.hits.map((h) => h.id));
            r.hits.forEach((h, i) => {
              expect(Math.abs(h.score - want.results[m]!.hits[i]!.score)).toBeLessThan(1e-5);
              expect(h.terms!.map((t) => t.token)).toEqual(want.results[m]!.hits[i]!.terms!.map((t) => t.token));
            });
          });
        } finally {
          index.close();
        }
      }
      // Built on the CPU backend: the same rows and coarse vectors, so the same hits.
      const cpuOut = join(root, 'index-cpu');
      await buildIndex(cpu, { data, split: 'test', checkpoint, out: cpuOut, batchSize: 100, ann: 'ivf_pq' });
      const built = await SearchIndex.open(cpu, cpuOut, checkpoint);
      try {
        const got = await built.query(texts, { k: 10, candidates: N });
        got.results.forEach((r, m) => expect(r.hits.map((h) => h.id)).toEqual(want.results[m]!.hits.map((h) => h.id)));
      } finally {
        built.close();
      }
    } finally {
      cpu.destroy();
    }
    const cli = resolve(__dirname, '../../dist/cli.js');
    const run = (backend: string) => JSON.parse(execFileSync(process.execPath, [cli, 'search', '--index', out, '--checkpoint', checkpoint, texts[0]!, '--k', '5', '--candidates', '60', '--json', '--backend', backend], { encoding: 'utf8' }));
    expect(run('wasm').results[0].hits.map((h: { id: number }) => h.id)).toEqual(run('webgpu').results[0].hits.map((h: { id: number }) => h.id));
  });
});

describe('a student index (coarse: one vector per image from a distilled student)', () => {
  // The mechanism, not a trained student's quality: random towers over the model's embeddings.
  const student = initStudent(16, { hidden: 8, outDim: 6, pool: 'sum+max', normalize: false, seed: 4 });
  const studentPath = join(root, 'student.safetensors');
  const out = join(root, 'index-student');

  /** Each caption's student top-K' over the model's gallery embeddings, computed here. */
  async function studentTop(texts: string[], kp: number): Promise<number[][]> {
    const model = await engine.loadModel(checkpoint);
    try {
      const { NpyReader } = await import('../../src/index.js');
      const reader = await NpyReader.open(join(data, 'test_ims.npy'));
      const [n, R, D] = reader.shape as [number, number, number];
      const images = await model.encodeImages({ data: await reader.readRows(0, n), shape: [n, R, D] });
      await reader.close();
      const vectors = embedTower(student.image, { data: images.data, shape: [n, R, 16] });
      const vocab = Vocabulary.fromJSON(readFileSync(join(data, 'scenes_vocab.json'), 'utf8'));
      const tops: number[][] = [];
      for (const text of texts) {
        const ids = Int32Array.from(vocab.encode(text));
        const words = await model.encodeCaptions({ ids, shape: [1, ids.length], lengths: [ids.length] });
        tops.push(Array.from(vectorTopK(vectors, 6, embedTower(student.text, { data: words.data, shape: [1, ids.length, 16] }), kp).indices));
      }
      return tops;
    } finally {
      model.destroy();
    }
  }

  it('is built and searched: the shortlist is the student\'s top-K\', resident or not, and K\' = the gallery gives exhaustive NAAF', async () => {
    writeFileSync(studentPath, studentToSafetensors(student));
    await buildIndex(engine, { data, split: 'test', checkpoint, out, coarse: 'student', student: studentPath, ann: 'flat', batchSize: 128 });
    const manifest = (await readManifest(out))!;
    expect(manifest).toMatchObject({ complete: true, coarse: 'student', student: { file: 'student.safetensors', dim: 6, normalize: false } });
    expect(manifest.student!.maxNorm).toBeGreaterThan(0); // its column: unit vectors one wider (indexStudent.ts)
    expect(readFileSync(join(out, 'student.safetensors'))).toEqual(readFileSync(studentPath));
    const texts = [captions()[7]!, captions()[123]!, 'a large cyan glass torus .'];
    const want = await studentTop(texts, 40);
    const lists: number[][][] = [];
    for (const resident of [false, true]) {
      const index = await SearchIndex.open(engine, out, checkpoint, { resident });
      try {
        const { results } = await index.query(texts, { k: 5, candidates: 40, withCandidates: true });
        lists.push(results.map((r) => r.candidates!));
        results.forEach((r, m) => expect(new Set(r.candidates), `resident ${resident}: ${texts[m]}`).toEqual(new Set(want[m])));
      } finally {
        index.close();
      }
    }
    // The resident pass is vectorTopK over the mapped vectors (x / M, one wider): the same order here (no near-ties).
    expect(lists[1]).toEqual(want);
    await expectExhaustiveTop10(out, captions()[9]!);
  });

  it('an IVF_PQ student index (cosine over the mapped vectors) answers with K\' candidates', async () => {
    const cosine = initStudent(16, { hidden: 8, outDim: 8, seed: 5 });
    const path = join(root, 'student-cosine.safetensors');
    writeFileSync(path, studentToSafetensors(cosine));
    for (const [file, dir] of [[studentPath, 'index-student-pq'], [path, 'index-student-pq-cos']] as const) {
      const where = join(root, dir);
      await buildIndex(engine, { data, split: 'test', checkpoint, out: where, coarse: 'student', student: file, ann: 'ivf_pq', batchSize: 128 });
      expect((await readManifest(where))!.ann.kind).toBe('ivf_pq');
      const index = await SearchIndex.open(engine, where, checkpoint);
      try {
        const { results } = await index.query([captions()[7]!], { k: 5, candidates: 40, withCandidates: true });
        expect(new Set(results[0]!.candidates).size).toBe(40);
        expect(results[0]!.hits).toHaveLength(5);
      } finally {
        index.close();
      }
    }
  });

  it('refuses a missing or foreign student, another student on resume, a tampered copy', async () => {
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: join(root, 'no-student'), coarse: 'student' })).rejects.toThrow(/coarse 'student' needs --student/);
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: join(root, 'no-student'), student: studentPath })).rejects.toThrow(/--student is for coarse 'student', not "maxsim"/);
    const wide = join(root, 'student-wide.safetensors');
    writeFileSync(wide, studentToSafetensors(initStudent(12, { hidden: 4, outDim: 6 })));
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: join(root, 'wide-student'), coarse: 'student', student: wide }))
      .rejects.toThrow(/the student .*student-wide.safetensors: its image tower reads 12-wide embeddings, but the checkpoint's model has embedSize 16/);
    expect(existsSync(join(root, 'wide-student'))).toBe(false);
    const partial = join(root, 'index-student-partial');
    let batches = 0;
    await buildIndex(engine, { data, split: 'test', checkpoint, out: partial, coarse: 'student', student: studentPath, batchSize: 64, shouldStop: () => ++batches >= 1 });
    const another = join(root, 'student-2.safetensors');
    writeFileSync(another, studentToSafetensors(initStudent(16, { hidden: 8, outDim: 6, pool: 'sum+max', normalize: false, seed: 9 })));
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: partial, coarse: 'student', student: another })).rejects.toThrow(/was started with the student .*student.safetensors .*, not .*student-2.safetensors/);
    // Resumed with its own student: the map to unit vectors (fixed by the first batch) is kept, and
    // the shortlists are the fresh build's (whose first batch, and so M, differs).
    const maxNorm = (await readManifest(partial))!.student!.maxNorm;
    expect(maxNorm).toBeGreaterThan(0);
    await buildIndex(engine, { data, split: 'test', checkpoint, out: partial, coarse: 'student', student: studentPath, batchSize: 64 });
    expect((await readManifest(partial))!).toMatchObject({ complete: true, student: { maxNorm } });
    const texts = [captions()[7]!, captions()[200]!];
    const shortlists = async (dir: string) => {
      const index = await SearchIndex.open(engine, dir, checkpoint);
      try {
        return (await index.query(texts, { k: 5, candidates: 40, withCandidates: true })).results.map((r) => new Set(r.candidates));
      } finally {
        index.close();
      }
    };
    expect(await shortlists(partial)).toEqual(await shortlists(out));
    // Rows without the map in the manifest (edited, or a crash that lost it) are refused, not mixed.
    const edited = join(root, 'index-student-edited');
    batches = 0;
    await buildIndex(engine, { data, split: 'test', checkpoint, out: edited, coarse: 'student', student: studentPath, batchSize: 64, shouldStop: () => ++batches >= 1 });
    const path = join(edited, 'naaf-index.json');
    const json = JSON.parse(readFileSync(path, 'utf8'));
    delete json.student.maxNorm;
    writeFileSync(path, JSON.stringify(json));
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: edited, coarse: 'student', student: studentPath, batchSize: 64 })).rejects.toThrow(/holds 64 rows of an inner-product student's vectors but its manifest has no student.maxNorm/);
    // The index's copy edited after the build: its vectors no longer match, so it is refused.
    const copy = join(out, 'student.safetensors');
    const bytes = readFileSync(copy);
    writeFileSync(copy, studentToSafetensors(initStudent(16, { hidden: 8, outDim: 6, pool: 'sum+max', normalize: false, seed: 9 })));
    await expect(SearchIndex.open(engine, out, checkpoint)).rejects.toThrow(/its student student.safetensors .* is not the one its coarse vectors were computed with/);
    writeFileSync(copy, bytes);
    (await SearchIndex.open(engine, out, checkpoint)).close();
  });
});

describe('refusals', () => {
  it('another checkpoint, a foreign folder, a missing index, another split in the same folder', async () => {
    const out = join(root, 'index-mean');
    await buildIndex(engine, { data, split: 'test', checkpoint, out, coarse: 'mean', batchSize: 512 });
    expect((await readManifest(out))!.ann).toEqual({ kind: 'flat' }); // under 4096 images: exact coarse search
    await expect(SearchIndex.open(engine, out, other)).rejects.toThrow(/is not the checkpoint the index .* was built with .* its embeddings would not match/);
    await expect(buildIndex(engine, { data, split: 'test', checkpoint: other, out })).rejects.toThrow(/is an index of another checkpoint/);
    await expect(buildIndex(engine, { data, split: 'dev', checkpoint, out, coarse: 'mean' })).rejects.toThrow(/was started for .* split test \(300 images, coarse mean\), not .* split dev/);
    const foreign = join(root, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: foreign })).rejects.toThrow(/exists and is not a search index \(no naaf-index.json\); choose an empty or new --out/);
    expect(readFileSync(join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
    await expect(SearchIndex.open(engine, join(root, 'nothing'), checkpoint)).rejects.toThrow(/is not a search index \(no naaf-index.json\); build one with `naaf index`/);
    // A version-1 manifest (no table id) still opens; an unknown version is named.
    const manifestPath = join(out, 'naaf-index.json');
    const current = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const { tableId: _id, tableCreated: _created, ...v1 } = { ...current, version: 1 };
    writeFileSync(manifestPath, JSON.stringify(v1));
    (await SearchIndex.open(engine, out, checkpoint)).close();
    writeFileSync(manifestPath, JSON.stringify({ ...current, version: 3 }));
    await expect(SearchIndex.open(engine, out, checkpoint)).rejects.toThrow(/naaf-index.json is format "naaf-search-index" version 3, expected naaf-search-index version 1 or 2/);
    writeFileSync(manifestPath, JSON.stringify(current));
    await expectExhaustiveTop10(out, captions()[3]!);
  });
});

describe('a table outside the index folder (--table)', () => {
  it('is written there, recorded in the manifest, searched, and never shared or swapped', async () => {
    const out = join(root, 'index-away');
    const tables = join(root, 'tables', 'gallery');
    await buildIndex(engine, { data, split: 'test', checkpoint, out, table: tables, batchSize: 128 });
    const manifest = (await readManifest(out))!;
    expect(manifest).toMatchObject({ complete: true, rows: N, table: resolve(tables) });
    expect(existsSync(join(out, 'lance'))).toBe(false);
    expect(existsSync(join(tables, 'images.lance'))).toBe(true);
    await expectExhaustiveTop10(out, captions()[5]!);
    // Another index may not append to that table; nothing of it is written.
    const second = join(root, 'index-away-2');
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: second, table: tables })).rejects.toThrow(/already holds a LanceDB table 'images' \(another index's\?\); choose another --table/);
    expect(existsSync(second)).toBe(false);
    // A build started with one table is not resumed into another.
    const third = join(root, 'index-away-3');
    let batches = 0;
    await buildIndex(engine, { data, split: 'test', checkpoint, out: third, table: join(root, 'tables', 'a'), batchSize: 64, shouldStop: () => ++batches >= 1 });
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: third, table: join(root, 'tables', 'b') })).rejects.toThrow(/was started with its table at .*tables\/a, not .*tables\/b; pass the same --table to resume it/);
    // Its table moved away: a resume refuses instead of starting over, and nothing is recreated.
    renameSync(join(root, 'tables', 'a'), join(root, 'tables', 'a-moved'));
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: third, table: join(root, 'tables', 'a') })).rejects.toThrow(/the table of .* at .*tables\/a is gone \(moved or deleted\); build into a new --out/);
    expect(existsSync(join(root, 'tables', 'a'))).toBe(false);
    // Another index's table put in its place: refused by the build and by search (the ids differ).
    renameSync(tables, join(root, 'tables', 'a'));
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: third, table: join(root, 'tables', 'a') })).rejects.toThrow(/the table at .*tables\/a belongs to another index .*; it is left as it is/);
    renameSync(join(root, 'tables', 'a'), tables);
    renameSync(join(root, 'tables', 'a-moved'), tables + '-other');
    // A table moved away: a clear error, not an empty search, and no folder recreated.
    renameSync(tables, `${tables}-moved`);
    await expect(SearchIndex.open(engine, out, checkpoint)).rejects.toThrow(/has no table 'images' at .*tables\/gallery; was it moved or deleted\?/);
    expect(existsSync(tables)).toBe(false);
    renameSync(tables + '-other', tables);
    await expect(SearchIndex.open(engine, out, checkpoint)).rejects.toThrow(/the table at .*tables\/gallery belongs to another index/);
  });

  it('a URI table (file://; s3:// and the like go the same way) is kept as given and searched through LanceDB', async () => {
    const out = join(root, 'index-uri');
    const uri = `file://${join(root, 'uri-table')}`;
    await buildIndex(engine, { data, split: 'test', checkpoint, out, table: uri, batchSize: 150 });
    expect((await readManifest(out))!).toMatchObject({ complete: true, table: uri });
    expect(existsSync(join(root, 'uri-table', 'images.lance'))).toBe(true);
    await expectExhaustiveTop10(out, captions()[9]!);
    await expect(buildIndex(engine, { data, split: 'test', checkpoint, out: join(root, 'index-uri-2'), table: uri })).rejects.toThrow(/already holds a LanceDB table 'images'/);
  });

  it('decodes the coarse rows\' regions from several Arrow batches and from a slice', async () => {
    const lance = await loadLance();
    const R = 3, E = 4;
    const schema = imageSchema(lance, E);
    const batch = (first: number, n: number) => imageBatch(lance, schema, Int32Array.from({ length: n }, (_, i) => first + i), new Float32Array(n * E),
      Float32Array.from({ length: n * R * E }, (_, i) => first * R * E + i), R, E) as { batches: unknown[] };
    const table = new lance.arrow.Table([...batch(0, 2).batches, ...batch(2, 3).batches, ...batch(5, 1).batches]);
    const into = new Map<number, Float32Array>();
    expect(rowsWithRegions(table, R, E, into)).toEqual([0, 1, 2, 3, 4, 5]);
    for (let id = 0; id < 6; id++) expect(Array.from(into.get(id)!)).toEqual(Array.from({ length: R * E }, (_, i) => id * R * E + i));
    const sliced = new Map<number, Float32Array>();
    expect(rowsWithRegions(table.slice(1, 4), R, E, sliced)).toEqual([1, 2, 3]);
    for (const id of [1, 2, 3]) expect(Array.from(sliced.get(id)!)).toEqual(Array.from(into.get(id)!));
  });

  it('decodes coarse vectors (a student\'s width, not the regions\') from several Arrow batches and from a slice', async () => {
    const lance = await loadLance();
    const R = 2, E = 4, C = 3;
    const schema = imageSchema(lance, E, undefined, C);
    const batch = (first: number, n: number) => imageBatch(lance, schema, Int32Array.from({ length: n }, (_, i) => first + i),
      Float32Array.from({ length: n * C }, (_, i) => first * C + i), new Float32Array(n * R * E), R, E) as { batches: unknown[] };
    const table = new lance.arrow.Table([...batch(0, 2).batches, ...batch(2, 3).batches, ...batch(5, 1).batches]);
    const all = coarseRows(table, C);
    expect(all.ids).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(all.vectors)).toEqual(Array.from({ length: 6 * C }, (_, i) => i));
    const part = coarseRows(table.slice(1, 4), C);
    expect(part.ids).toEqual([1, 2, 3]);
    expect(Array.from(part.vectors)).toEqual(Array.from({ length: 3 * C }, (_, i) => C + i));
    expect(() => imageBatch(lance, schema, new Int32Array(2), new Float32Array(2 * E), new Float32Array(2 * R * E), R, E)).toThrow('imageBatch: coarse has 8 values, expected 2 images x 3');
  });

  it('an object-storage URI is passed to LanceDB as is, a folder is resolved against the index', () => {
    expect(tableLocation('/data/index', 's3://bucket/naaf/gallery')).toBe('s3://bucket/naaf/gallery');
    expect(tableLocation('/data/index', 'gs://bucket/x')).toBe('gs://bucket/x');
    expect(tableLocation('/data/index', undefined)).toBe('/data/index/lance');
    expect(tableLocation('/data/index', '/mnt/tables')).toBe('/mnt/tables');
    expect(isUri('s3://bucket/x')).toBe(true);
    expect(isUri('c://x')).toBe(false); // a Windows drive, not a scheme
    expect(isUri('C:\\tables')).toBe(false);
    expect(isUri('tables/a')).toBe(false);
  });
});
