// `naaf eval` on a generated dataset in the precomp layout, against a float64 computation of
// the same protocol (encoders, NAAF score and recalls from the references).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeCaptionIds, findVocabulary, openPrecompSplit } from '../../src/data/precomp.js';
import { EvalStoppedError, evalrank } from '../../src/eval/evalrank.js';
import { averageFolds, recallMetrics } from '../../src/eval/recall.js';
import { sharedEngine } from '../gpu.js';
import { encodeNpy } from '../../src/io/npy.js';
import { loadModelWeights } from '../../src/model/load.js';
import { encodeCaptionsRef, encodeImagesRef } from '../../src/ref/encoders.js';
import { naafSimilarityRef } from '../../src/ref/naaf.js';
import { rng } from '../random.js';
import { NaafEngine } from '../../src/index.js';

const checkpoint = fileURLToPath(new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url));
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const N = 10;
const R = 36;
const IMG_DIM = 64;

function naaf(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
}

/** A SCAN-flavour vocabulary of the checkpoint's 40 ids, and 5 captions per image. */
function makeDataset(dir: string) {
  const next = rng(77);
  const words = Array.from({ length: 36 }, (_, i) => `w${i}`);
  const word2idx: Record<string, number> = { '<pad>': 0, '<start>': 1, '<end>': 2, '<unk>': 3 };
  words.forEach((w, i) => (word2idx[w] = i + 4));
  const idx2word = Object.fromEntries(Object.entries(word2idx).map(([w, i]) => [String(i), w]));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'tiny_vocab.json'), JSON.stringify({ word2idx, idx2word, idx: 40 }));
  const captions = Array.from({ length: 5 * N }, () => {
    const length = 2 + Math.floor(next() * 9);
    return Array.from({ length }, () => (next() < 0.05 ? 'unseen' : words[Math.floor(next() * words.length)])).join(' ');
  });
  writeFileSync(join(dir, 'data', 'test_caps.txt'), captions.join('\n') + '\n');
  const features = Float32Array.from({ length: N * R * IMG_DIM }, () => next() * 2);
  writeFileSync(join(dir, 'data', 'test_ims.npy'), encodeNpy(features, [N, R, IMG_DIM]));
  return { captions, features, word2idx };
}

describe('naaf eval', () => {
  let dir = '';
  let data: ReturnType<typeof makeDataset>;
  let expected: { whole: ReturnType<typeof recallMetrics>; fold5: ReturnType<typeof recallMetrics> };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'naaf-eval-'));
    data = makeDataset(dir);
    const { state, config } = await loadModelWeights(checkpoint);
    const E = config.embedSize;
    const img = encodeImagesRef(data.features, N * R, IMG_DIM, state['img_enc.fc.weight'].data, state['img_enc.fc.bias'].data, E);
    const sequences = data.captions.map((c) => [1, ...c.split(' ').map((w) => data.word2idx[w] ?? 3), 2]);
    const L = Math.max(...sequences.map((s) => s.length));
    const ids = new Int32Array(sequences.length * L);
    sequences.forEach((s, m) => ids.set(s, m * L));
    const lengths = sequences.map((s) => s.length);
    const gru = (k: string) => [state[`txt_enc.rnn.${k}`].data, state[`txt_enc.rnn.${k}_reverse`].data] as [Float32Array, Float32Array];
    const cap = encodeCaptionsRef(ids, sequences.length, L, lengths, state['txt_enc.embed.weight'].data, {
      weightIH: gru('weight_ih_l0'), weightHH: gru('weight_hh_l0'), biasIH: gru('bias_ih_l0'), biasHH: gru('bias_hh_l0'), inputSize: config.wordDim, hidden: E,
    });
    const batch = (n0: number, n: number) => ({
      images: img.subarray(n0 * R * E, (n0 + n) * R * E), captions: cap.subarray(5 * n0 * L * E, 5 * (n0 + n) * L * E),
      lengths: lengths.slice(5 * n0, 5 * (n0 + n)), N: n, R, M: 5 * n, L, D: E,
    });
    const score = (n0: number, n: number) => naafSimilarityRef(batch(n0, n), { threshold: config.threshold!, lambdaSoftmax: config.lambdaSoftmax });
    expected = {
      whole: recallMetrics(score(0, N), N, 5 * N),
      fold5: averageFolds([0, 2, 4, 6, 8].map((n0) => recallMetrics(score(n0, 2), 2, 10))),
    };
  });

  it('--json matches the float64 protocol, whole split and --fold5', () => {
    for (const [flags, want] of [[[], expected.whole], [['--fold5'], expected.fold5]] as const) {
      const run = naaf(['eval', '--data', join(dir, 'data'), '--split', 'test', '--checkpoint', checkpoint, '--json', ...flags]);
      expect(run.status, run.stderr).toBe(0);
      const got = JSON.parse(run.stdout);
      for (const direction of ['i2t', 't2i'] as const) {
        for (const key of ['r1', 'r5', 'r10', 'medr', 'meanr'] as const) expect(got[direction][key], `${direction}.${key} ${flags}`).toBeCloseTo(want[direction][key], 9);
      }
      expect(got.rsum).toBeCloseTo(want.rsum, 9);
      expect(got.timings.encodeMs).toBeGreaterThan(0);
    }
  });

  it('--backend wasm: the same protocol on the CPU backend, whole split and --fold5, and the streamed ranks there', async () => {
    for (const [flags, want] of [[[], expected.whole], [['--fold5'], expected.fold5]] as const) {
      const run = naaf(['eval', '--data', join(dir, 'data'), '--split', 'test', '--checkpoint', checkpoint, '--json', '--backend', 'wasm', '--threads', '2', ...flags]);
      expect(run.status, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/device: wasm: 2 threads, SIMD128/);
      const got = JSON.parse(run.stdout);
      for (const direction of ['i2t', 't2i'] as const) {
        for (const key of ['r1', 'r5', 'r10', 'medr', 'meanr'] as const) expect(got[direction][key], `${direction}.${key} ${flags}`).toBeCloseTo(want[direction][key], 9);
      }
    }
    const cpu = await NaafEngine.create({ backend: 'wasm', threads: 2 });
    const model = await cpu.loadModel(checkpoint);
    const split = await openPrecompSplit(join(dir, 'data'), 'test');
    try {
      const { vocab } = await findVocabulary(join(dir, 'data'), 'basic');
      const captions = encodeCaptionIds(split.captions, vocab, model.config.vocabSize);
      const dense = await evalrank(cpu, [model], split.images, captions, { captionBatch: 7, imageBatch: 3 });
      const streamed = await evalrank(cpu, [model], split.images, captions, { captionBatch: 7, imageBatch: 3, maxSimilarityBytes: 4 });
      const strip = ({ timings: _t, ...rest }: typeof dense) => rest;
      expect(strip(streamed)).toEqual(strip(dense));
      expect(dense.rsum).toBeCloseTo(expected.whole.rsum, 9);
    } finally {
      await split.images.close();
      model.destroy();
      cpu.destroy();
    }
  });

  it('prints the original table, and an ensemble of a checkpoint with itself ranks the same', () => {
    const run = naaf(['eval', '--data', join(dir, 'data'), '--checkpoint', checkpoint, '--checkpoint2', checkpoint]);
    expect(run.status, run.stderr).toBe(0);
    const r = expected.whole;
    expect(run.stdout).toContain(`rsum: ${r.rsum.toFixed(1)}`);
    expect(run.stdout).toContain(`Image to text: ${[r.i2t.r1, r.i2t.r5, r.i2t.r10, r.i2t.medr, r.i2t.meanr].map((x) => x.toFixed(1)).join(' ')}`);
    expect(run.stdout).toContain(`Text to image: ${[r.t2i.r1, r.t2i.r5, r.t2i.r10, r.t2i.medr, r.t2i.meanr].map((x) => x.toFixed(1)).join(' ')}`);
    expect(run.stdout).toMatch(/encode \d+ ms, similarity \d+ ms/);
  });

  it('past its memory budget, evalrank counts the ranks in two streamed passes, exactly as from the whole matrix; it stops on request', async () => {
    const engine = await sharedEngine();
    const model = await engine.loadModel(checkpoint);
    try {
      const split = await openPrecompSplit(join(dir, 'data'), 'test');
      try {
        const { vocab } = await findVocabulary(join(dir, 'data'), 'basic');
        const captions = encodeCaptionIds(split.captions, vocab, model.config.vocabSize);
        const dense = await evalrank(engine, [model], split.images, captions, { captionBatch: 7, imageBatch: 3 });
        const phases = new Set<string>();
        const streamed = await evalrank(engine, [model], split.images, captions, { captionBatch: 7, imageBatch: 3, maxSimilarityBytes: 4, onProgress: (p) => phases.add(p) });
        expect(phases).toContain('similarity (pass 2 of 2)');
        const strip = ({ timings: _t, ...rest }: typeof dense) => rest;
        expect(strip(streamed)).toEqual(strip(dense));
        for (const key of ['r1', 'r5', 'r10', 'medr', 'meanr'] as const) expect(dense.t2i[key]).toBeCloseTo(expected.whole.t2i[key], 9);
        // An ensemble and COCO's 5 folds, streamed and dense.
        for (const options of [{ fold5: true }, {}]) {
          const models = options.fold5 ? [model] : [model, model];
          const whole = await evalrank(engine, models, split.images, captions, { ...options, captionBatch: 4 });
          const parts = await evalrank(engine, models, split.images, captions, { ...options, captionBatch: 4, maxSimilarityBytes: 4 });
          expect(strip(parts)).toEqual(strip(whole));
        }
        await expect(evalrank(engine, [model], split.images, captions, { captionBatch: 0 })).rejects.toThrow(/options.captionBatch must be an integer >= 1, got 0/);
        let polls = 0;
        await expect(evalrank(engine, [model], split.images, captions, { captionBatch: 7, shouldStop: () => ++polls > 3 })).rejects.toBeInstanceOf(EvalStoppedError);
      } finally {
        await split.images.close();
      }
    } finally {
      model.destroy();
    }
  });

  it('clear errors: an empty split, a broken vocabulary file', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'test_caps.txt'), '\n');
    writeFileSync(join(empty, 'test_ims.npy'), encodeNpy(new Float32Array(0), [0, R, IMG_DIM]));
    writeFileSync(join(empty, 'v.json'), JSON.stringify({ word2idx: { '<pad>': 0, '<start>': 1, '<end>': 2, '<unk>': 3 } }));
    const run = naaf(['eval', '--data', empty, '--checkpoint', checkpoint]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/a split needs at least one image, region and feature/);
    const broken = join(dir, 'broken');
    mkdirSync(broken);
    for (const file of ['test_caps.txt', 'test_ims.npy']) writeFileSync(join(broken, file), readFileSync(join(dir, 'data', file)));
    writeFileSync(join(broken, 'tiny_vocab.json'), '{"word2idx": {"<pad>": 0,');
    const bad = naaf(['eval', '--data', broken, '--checkpoint', checkpoint]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/no vocabulary JSON in .*broken.*these JSON files are not vocabularies:\n  .*tiny_vocab.json: Vocabulary.fromJSON: json: expected JSON text, got text that does not parse/);
  });

  it('clear errors: missing split files, a vocabulary larger than the embedding', () => {
    const missing = naaf(['eval', '--data', join(dir, 'data'), '--split', 'dev', '--checkpoint', checkpoint]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/data: missing .*dev_ims\.npy/);
    const big = join(dir, 'big.json');
    const word2idx: Record<string, number> = { '<pad>': 0, '<start>': 1, '<end>': 2, '<unk>': 3 };
    for (let i = 4; i < 50; i++) word2idx[`x${i}`] = i;
    writeFileSync(big, JSON.stringify({ word2idx }));
    const run = naaf(['eval', '--data', join(dir, 'data'), '--checkpoint', checkpoint, '--vocab', big]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/the vocabulary has 50 words, more than the model's embedding \(vocabSize 40\)/);
  });
});
