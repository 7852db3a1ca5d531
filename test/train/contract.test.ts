// What a training run refuses or reports instead of silently doing something else: options out
// of range, a resume that would change its run or train nothing, misaligned splits, a model too
// large for the device, and `naaf train`'s flags and exit codes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTraining } from '../../src/train/loop.js';
import { sharedEngine } from '../gpu.js';
import { writeSyntheticDataset } from './dataset.js';

const engine = await sharedEngine();
const root = mkdtempSync(join(tmpdir(), 'naaf-contract-'));
const data = join(root, 'data');
const tiny = { epochs: 1, batchSize: 10, embedSize: 8, wordDim: 4, devCaptions: 50, seed: 1 };
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const naaf = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });

beforeAll(() => {
  writeSyntheticDataset(data, { train: 12, dev: 10, regions: 3, imgDim: 6, concepts: 5, seed: 4 });
});

/** A copy of the dataset with one split's captions file replaced. */
function withCaptions(name: string, split: 'train' | 'dev', edit: (lines: string[]) => string[]): string {
  const dir = join(root, name);
  cpSync(data, dir, { recursive: true });
  const path = join(dir, `${split}_caps.txt`);
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  writeFileSync(path, `${edit(lines).join('\n')}\n`);
  return dir;
}

describe('training contract', () => {
  it('refuses out-of-range options before any work', async () => {
    const out = join(root, 'bad');
    for (const [options, message] of [
      [{ epochs: 0 }, /options.epochs must be an integer >= 1, got 0/],
      [{ epochs: -1 }, /options.epochs must be an integer >= 1, got -1/],
      [{ batchSize: -5 }, /options.batchSize must be an integer >= 2, got -5/],
      [{ batchSize: 1 }, /options.batchSize must be an integer >= 2, got 1/],
      [{ embedSize: 0 }, /options.embedSize must be an integer >= 1, got 0/],
    ] as const) {
      await expect(runTraining(engine, { ...tiny, ...options, data, out, trainer: {} })).rejects.toThrow(message);
    }
    expect(existsSync(out)).toBe(false); // nothing written
  });

  it('refuses a model larger than the device before making its weights', async () => {
    const started = performance.now();
    await expect(runTraining(engine, { ...tiny, embedSize: 16384, data, out: join(root, 'huge'), trainer: {} }))
      .rejects.toThrow(/the model does not fit this device: txt_enc.rnn.weight_hh_l0 .* needs 6442450944 bytes, more than its largest storage binding/);
    expect(performance.now() - started).toBeLessThan(5000); // refused up front, not after gigabytes of initialisation
  });

  it('refuses splits that would pair captions with the wrong images', async () => {
    const fourPerImage = withCaptions('four', 'train', (lines) => lines.filter((_, i) => i % 5 !== 4));
    await expect(runTraining(engine, { ...tiny, data: fourPerImage, out: join(root, 'x'), trainer: {} }))
      .rejects.toThrow(/train_caps.txt has 48 captions for the 12 image rows of .*train_ims.npy \(4 per row\); the precomp layout needs 5 consecutive captions per image \(60 lines\)/);
    const devFour = withCaptions('devfour', 'dev', (lines) => lines.slice(0, 40));
    await expect(runTraining(engine, { ...tiny, data: devFour, out: join(root, 'x'), trainer: {} }))
      .rejects.toThrow(/dev_caps.txt has 40 captions for the 10 image rows .*the captions of the last 2 images are missing/);
    const blank = withCaptions('blank', 'train', (lines) => [...lines.slice(0, 6), '', ...lines.slice(7)]);
    await expect(runTraining(engine, { ...tiny, data: blank, out: join(root, 'x'), trainer: {} }))
      .rejects.toThrow(/train_caps.txt line 7: empty caption/);
  });

  it('a resume continues its own run: conflicting options refused, nothing-to-do refused, a new batch size applied at an epoch boundary', async () => {
    const out = join(root, 'resume');
    const first = await runTraining(engine, { ...tiny, data, out, trainer: { method: 'naaf' } });
    expect(first.steps).toBe(6);
    const resume = first.checkpoint;
    await expect(runTraining(engine, { ...tiny, data, out, resume, trainer: { method: 'scan-t2i' } })).rejects.toThrow(/these options differ from it: method "scan-t2i" \(the checkpoint's: "naaf"\)/);
    await expect(runTraining(engine, { ...tiny, epochs: 2, data, out, resume, trainer: { learningRate: 0.5 } })).rejects.toThrow(/learningRate 0.5 \(the checkpoint's: 0.0005\)/);
    await expect(runTraining(engine, { ...tiny, epochs: 2, embedSize: 16, data, out, resume, trainer: {} })).rejects.toThrow(/embedSize 16 \(the checkpoint's: 8\)/);
    await expect(runTraining(engine, { ...tiny, data, out, resume, trainer: {} })).rejects.toThrow(/has completed 1 epochs, so --epochs 1 trains nothing; pass --epochs > 1/);
    const more = await runTraining(engine, { ...tiny, epochs: 2, batchSize: 20, data, out, resume, trainer: {} });
    expect(more.notes).toEqual(['batch size 20 from epoch 1 on (the checkpoint trained with 10)', '2 epochs in all (the checkpoint\'s run had 1)']);
    expect(more.steps).toBe(3);
    // Mid-epoch, a new batch size would change the epoch's order: refused.
    let steps = 0;
    const midOut = join(root, 'mid');
    const mid = await runTraining(engine, { ...tiny, data, out: midOut, trainer: {}, shouldStop: () => ++steps >= 2 });
    expect(mid.stopped).toBe(true);
    await expect(runTraining(engine, { ...tiny, batchSize: 20, data, out: midOut, resume: mid.checkpoint, trainer: {} })).rejects.toThrow(/batchSize 20 mid-epoch/);
    // Epochs and batch size default to the checkpoint's; other data or another vocabulary is refused.
    const other = join(root, 'other');
    writeSyntheticDataset(other, { train: 14, dev: 10, regions: 3, imgDim: 6, concepts: 5, seed: 4 });
    await expect(runTraining(engine, { data: other, out: midOut, resume: mid.checkpoint, trainer: {} })).rejects.toThrow(/the run trained on 60 train captions, .* has 70/);
    const shuffled = join(root, 'shuffled.json');
    const ordered = ['<pad>', '<start>', '<end>', '<unk>', 'a', 'the', 'with', 'and', 'near', '.', 'thing0', 'thing1', 'thing2', 'thing3', 'thing4'];
    writeFileSync(shuffled, JSON.stringify({ word2idx: Object.fromEntries(ordered.map((w, i) => [w, i])) }));
    await expect(runTraining(engine, { data, out: midOut, resume: mid.checkpoint, vocab: shuffled, trainer: {} })).rejects.toThrow(/the run's vocabulary had 15 words \(hash [0-9a-f]{8}\), this one 15 \(hash [0-9a-f]{8}\): token ids would change meaning/);
    const resumed = await runTraining(engine, { data, out: midOut, resume: mid.checkpoint, trainer: {} });
    expect(resumed.steps).toBe(4);
    expect(resumed.progress.epoch).toBe(1);
    const extended = await runTraining(engine, { epochs: 2, data, out: midOut, resume: resumed.checkpoint, trainer: {} });
    expect(extended.notes).toEqual(['2 epochs in all (the checkpoint\'s run had 1)']);
    expect(extended.steps).toBe(6);
  });

  it('naaf train: bad flags refused (exit 1) and nothing written', () => {
    const out = join(root, 'cli-bad');
    for (const [flags, message] of [
      [['--epochs', '0'], /--epochs must be an integer >= 1, got "0"/],
      [['--epochs=-1'], /--epochs must be an integer >= 1, got "-1"/],
      [['--batch-size=-5'], /--batch-size must be an integer >= 2, got "-5"/],
      [['--embed-size', '0'], /--embed-size must be an integer >= 1, got "0"/],
      [['--lr', 'fast'], /--lr must be a finite number > 0, got "fast"/],
      [['--seed', ''], /--seed must be an integer >= 0, got ""/],
      [['--resume', 'x', '--init', 'y'], /--resume and --init conflict/],
    ] as const) {
      const run = naaf('train', '--data', data, '--out', out, ...flags);
      expect(run.status, run.stdout).toBe(1);
      expect(run.stderr).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });
});
