// Per-adapter tuning: time the score kernels (fused and split) with their tile candidates on a
// synthetic batch of the caller's shape, keep the fastest per (method, precision, R, ROWS, D)
// for this engine, and optionally persist the choices per adapter in a JSON file (Node), so
// tuning runs once.
import { methodSpec } from '../methods/index.js';
import type { GpuContext } from '../gpu/context.js';
import { writeFileAtomic } from '../model/load.js';
import { seededRandom } from '../random.js';
import { preferredRows } from '../ops/score.js';
import type { TileRequest } from '../ops/score.js';
import type { Precision, SimilarityOptions } from '../types.js';
import type { KernelChoice } from './choice.js';
import { platform } from '../platform/index.js';

export interface TuneShape {
  R: number; // regions per image
  L: number; // longest caption
  D: number;
  /** Synthetic batch size (default 96 images x 480 captions of lengths 5..L). */
  images?: number;
  captions?: number;
}

export interface TuneOptions {
  method?: SimilarityOptions['method']; // 'naaf'
  precision?: Precision; // 'f32'
  /** Kernels and tiles to try (default: DEFAULT_CANDIDATES for the precision). */
  candidates?: KernelChoice[];
  repeats?: number; // timed runs per candidate after a warm-up, median kept (default 3)
}

export interface TuneResult {
  key: string;
  best: KernelChoice;
  /** Median milliseconds per candidate; failed candidates (e.g. too much workgroup memory) carry `error`. */
  timings: (KernelChoice & { ms: number; error?: string })[];
}

const fused = (tile: TileRequest): KernelChoice => ({ kernel: 'fused', tile });
const split = (tile: TileRequest): KernelChoice => ({ kernel: 'split', tile });
const SPLIT_CANDIDATES = [split({}), split({ rows: 32 }), split({ rows: 128 }), split({ depth: 32 }), split({ gemmRows: 64 }), split({ gemmCols: 64, depth: 16 })];

export const DEFAULT_CANDIDATES: Record<'f32' | 'f16' | 'int8', KernelChoice[]> = {
  f32: [
    fused({}), fused({ images: 2 }), fused({ images: 2, depth: 8 }), fused({ images: 3, depth: 8 }), fused({ images: 2, rowBlocks: 2 }),
    ...SPLIT_CANDIDATES,
  ],
  f16: SPLIT_CANDIDATES,
  int8: [
    fused({ images: 1 }), fused({ images: 2 }), fused({ images: 4 }), fused({ images: 2, rows: 64 }), fused({ images: 2, blocksPerJob: 1 }),
    ...SPLIT_CANDIDATES,
  ],
};

const tuned = new WeakMap<GpuContext, Map<string, KernelChoice>>();

/** A cache entry: a kernel choice, or a bare tile (files written before the split kernel: fused). */
function asChoice(entry: KernelChoice | TileRequest): KernelChoice {
  const e = entry as KernelChoice;
  if ((e.kernel === 'fused' || e.kernel === 'split') && e.tile && typeof e.tile === 'object') {
    const choice: KernelChoice = { kernel: e.kernel, tile: { ...e.tile } };
    if (e.product === 'int8-dot4' || e.product === 'int8-subgroup-matrix') choice.product = e.product;
    return choice;
  }
  return fused({ ...(entry as TileRequest) });
}

export function tileKey(method: string, precision: Precision, R: number, L: number, D: number): string {
  return `${method}|${precision}|R${R}|rows${preferredRows(L)}|D${D}`;
}

/** The tuned kernel and tile for this shape, if engine.tune() (or the tile cache) chose one. */
export function tunedChoice(ctx: GpuContext, method: string, precision: Precision, R: number, L: number, D: number): KernelChoice | undefined {
  const choice = tuned.get(ctx)?.get(tileKey(method, precision, R, L, D));
  return choice && asChoice(choice);
}

/** The kernels and tiles this engine uses for tuned shapes, by key (tileKey). */
export function tunedTiles(ctx: GpuContext): Record<string, KernelChoice> {
  return Object.fromEntries([...(tuned.get(ctx) ?? new Map()).entries()].map(([key, choice]) => [key, asChoice(choice)]));
}

export function adapterKey(ctx: GpuContext): string {
  const { vendor, architecture, device, description, runtime } = ctx.info;
  return [runtime, vendor, architecture, device, description].join('|');
}

/** Loads the tiles tuned earlier on this adapter from `file` (missing file: nothing). */
export async function loadTileCache(ctx: GpuContext, file: string): Promise<number> {
  const { readFile } = await platform.fs('tileCacheFile');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let parsed: Record<string, Record<string, KernelChoice | TileRequest>>;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`tile cache ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const entries = Object.entries(parsed[adapterKey(ctx)] ?? {});
  const map = tuned.get(ctx) ?? new Map();
  for (const [key, entry] of entries) map.set(key, asChoice(entry));
  tuned.set(ctx, map);
  return entries.length;
}

async function saveTileCache(ctx: GpuContext, file: string): Promise<void> {
  const { readFile } = await platform.fs('tileCacheFile');
  let all: Record<string, Record<string, KernelChoice | TileRequest>> = {};
  try {
    all = JSON.parse(await readFile(file, 'utf8'));
  } catch { /* a missing or broken file is replaced */ }
  all[adapterKey(ctx)] = Object.fromEntries(tuned.get(ctx) ?? []);
  await writeFileAtomic(file, new TextEncoder().encode(JSON.stringify(all, null, 2) + '\n'));
}

function syntheticRows(rows: number, dim: number, seed: number): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) {
      const v = next() - 0.35;
      out[i * dim + d] = v;
      sq += v * v;
    }
    const scale = 1 / Math.sqrt(sq);
    for (let d = 0; d < dim; d++) out[i * dim + d] *= scale;
  }
  return out;
}

type RunInto = (images: { buffer: GPUBuffer; shape: [number, number, number] },
  captions: { buffer: GPUBuffer; shape: [number, number, number]; lengths: Uint32Array }, options: SimilarityOptions, out: { buffer: GPUBuffer }) => Promise<void>;

export async function tuneTiles(ctx: GpuContext, runInto: RunInto, shape: TuneShape, options: TuneOptions = {}, cacheFile?: string): Promise<TuneResult> {
  const { R, L, D } = shape;
  for (const [name, value] of Object.entries({ R, L, D })) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`tune: shape.${name} must be an integer >= 1, got ${String(value)}`);
  }
  const N = shape.images ?? 96;
  const M = shape.captions ?? 480;
  const method = options.method ?? 'naaf';
  const precision = options.precision ?? 'f32';
  let candidates = options.candidates ?? DEFAULT_CANDIDATES[precision === 'f32' || precision === 'f16' ? precision : 'int8'];
  // 'int8' times both products where the device offers tensor cores: the winner's product is
  // what 'int8' then runs for this shape (never the tensor cores untimed; they must also pass
  // their self-check, else their candidates fail here).
  if (precision === 'int8' && (await ctx.int8Product()) === 'subgroup-matrix') {
    candidates = candidates.flatMap((c) => (c.product ? [c] : [{ ...c, product: 'int8-dot4' as const }, { ...c, product: 'int8-subgroup-matrix' as const }]));
  }
  const repeats = options.repeats ?? 3;
  const lengths = Uint32Array.from({ length: M }, (_, m) => Math.min(L, 5 + (m * 7) % Math.max(1, L - 4)));
  lengths[0] = L;
  const device = ctx.device;
  const upload = (data: Float32Array) => {
    const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  const images = upload(syntheticRows(N * R, D, 11));
  const captions = upload(syntheticRows(M * L, D, 13));
  const out = device.createBuffer({ size: N * M * 4, usage: GPUBufferUsage.STORAGE });
  const base = methodSpec(method).sampleOptions as unknown as SimilarityOptions;
  const timings: TuneResult['timings'] = [];
  try {
    for (const candidate of candidates) {
      const { kernel, tile, product } = asChoice(candidate);
      const run = async () => {
        await runInto({ buffer: images, shape: [N, R, D] }, { buffer: captions, shape: [M, L, D], lengths }, { ...base, precision: product ?? precision, kernel, tile }, { buffer: out });
        await device.queue.onSubmittedWorkDone();
      };
      try {
        await run(); // compiles and warms up
        const times: number[] = [];
        for (let i = 0; i < repeats; i++) {
          const t0 = performance.now();
          await run();
          times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        timings.push({ kernel, tile, ...(product ? { product } : {}), ms: times[Math.floor(times.length / 2)] });
      } catch (error) {
        timings.push({ kernel, tile, ...(product ? { product } : {}), ms: Infinity, error: (error as Error).message.split('\n')[0] });
      }
    }
  } finally {
    images.destroy();
    captions.destroy();
    out.destroy();
  }
  const ok = timings.filter((t) => Number.isFinite(t.ms));
  if (ok.length === 0) throw new Error(`tune: no tile candidate ran on this device: ${timings.map((t) => t.error).join('; ')}`);
  const winner = ok.reduce((a, b) => (b.ms < a.ms ? b : a));
  const best: KernelChoice = { kernel: winner.kernel, tile: winner.tile, ...(winner.product ? { product: winner.product } : {}) };
  const key = tileKey(method, precision, R, L, D);
  const map = tuned.get(ctx) ?? new Map();
  map.set(key, best);
  tuned.set(ctx, map);
  if (cacheFile) await saveTileCache(ctx, cacheFile);
  return { key, best, timings };
}
