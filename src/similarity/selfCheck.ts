// The fused kernel's tensor-core product is checked before it is trusted, as the split kernel's
// tensor-core GEMM is (src/ops/gemm.ts verifyMmaGemm): its WGSL needs a GPU with int8 subgroup
// matrices, which no test machine may have, so the engine runs it once on several small
// problems (two images per workgroup, a partial last workgroup, a chunk that starts past its
// buffer's first image, R below and above one 16-region block) against the dot4 product and
// uses it only if every score agrees to 1e-5. (Not bit for bit: S is exact either way, but the
// two products run different workgroup sizes, so the epilogue adds its per-lane partial sums
// in another order; a wrong product is off by far more.)
import type { GpuContext } from '../gpu/context.js';
import { CommandStream } from '../gpu/submit.js';
import { packedLayout } from '../ops/quantize.js';
import { Int8Kernel, chooseI8Config } from '../ops/scoreI8.js';
import type { TileRequest } from '../ops/score.js';
import { seededRandom } from '../random.js';
import { IMAGE_PAD_ROWS, prepareCaptions, prepareImages, subChunk } from './operands.js';
import type { ScorePlan } from './plan.js';
import { Scratch, encodeChunkScores } from './scoreChunks.js';
import type { ResolvedOptions } from './validate.js';
import { maxOf } from '../arrays.js';

const checked = new WeakMap<GpuContext, Promise<boolean>>();

const CASES = [
  { R: 36, D: 96, N: 7, first: 2, lengths: [12, 3, 7, 9, 1, 5], tile: { images: 2, rows: 32 } },
  { R: 7, D: 40, N: 5, first: 1, lengths: [4, 2, 6], tile: { images: 1 } },
];

function unitRows(rows: number, dim: number, seed: number): Float32Array {
  const next = seededRandom(seed);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) { const v = next() - 0.3; out[i * dim + d] = v; sq += v * v; }
    for (let d = 0; d < dim; d++) out[i * dim + d] /= Math.sqrt(sq);
  }
  return out;
}

/** Whether the fused int8 kernel's subgroup-matrix product gives the dot4 product's scores here, to 1e-5 (checked once per engine). */
export function verifyFusedMma(ctx: GpuContext): Promise<boolean> {
  let result = checked.get(ctx);
  if (!result) {
    result = (async () => {
      if ((await ctx.int8Product()) !== 'subgroup-matrix') return false;
      try {
        // In error scopes of its own: a failing dispatch must not surface in a later call.
        return await ctx.scoped('tensor-core score check', () => fusedProductsAgree(ctx, ['dot4', 'subgroup-matrix']));
      } catch {
        return false;
      }
    })();
    checked.set(ctx, result);
  }
  return result;
}

/**
 * Whether two fused int8 products (and tiles) give the same scores (to 1e-5) on the check
 * problems: the self-check's own harness, also run with two dot4 tiles where no subgroup
 * matrices exist.
 */
export async function fusedProductsAgree(ctx: GpuContext, kernels: [Int8Kernel, Int8Kernel], tiles?: [TileRequest, TileRequest]): Promise<boolean> {
  for (const c of CASES) if (!(await sameScores(ctx, c, kernels, tiles ?? [c.tile, c.tile]))) return false;
  return true;
}

async function sameScores(ctx: GpuContext, c: (typeof CASES)[number], kernels: [Int8Kernel, Int8Kernel], tiles: [TileRequest, TileRequest]): Promise<boolean> {
  const { R, D, N, first } = c;
  const L = maxOf(c.lengths);
  const M = c.lengths.length;
  const lengths = Uint32Array.from(c.lengths);
  const opts = { method: 'naaf', threshold: 0.1, lambdaSoftmax: 20, lambdaLse: 1, lambdaIntra: 5, intra: true, lse: false } as ResolvedOptions;
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const plans: ScorePlan[] = kernels.map((kernel, i) => {
    const int8 = chooseI8Config(kernel, R, L, limit, ctx.info.subgroupMaxSize, tiles[i]);
    return {
      method: 'naaf', flags: { intra: true, lse: false }, product: kernel === 'dot4' ? 'int8-dot4' : 'int8-subgroup-matrix', format: 'int8',
      choice: { kernel: 'fused', tile: tiles[i] }, vec4: false, fused: { int8, ROWS: int8.ROWS, CAPS: int8.CAPS, IMGS: int8.IMGS },
    };
  });
  const outputs: Float32Array[] = [];
  for (const plan of plans) {
    const stream = new CommandStream(ctx, 'tensor-core score check');
    const holder: GPUBuffer[] = [];
    const take = (buffer: GPUBuffer) => (holder.push(buffer), buffer);
    try {
      const images = take(ctx.upload(unitRows(N * R, D, 7 + R), 'check images'));
      const captions = take(ctx.upload(unitRows(M * L, D, 9 + R), 'check captions'));
      const layout = packedLayout('int8', D, N * R + IMAGE_PAD_ROWS);
      const packed = take(ctx.pool.acquire(layout.bytes, GPUBufferUsage.STORAGE, 'check packed'));
      const gram = take(ctx.pool.acquire(N * R * R * 4, GPUBufferUsage.STORAGE, 'check gram'));
      const chunk = await prepareImages(ctx, stream, {
        source: { binding: images, base: 0 }, count: N, R, D, format: 'int8',
        packed: { binding: packed, firstRow: 0, layout, rows: N * R + IMAGE_PAD_ROWS }, gram, gramBase: 0, n0: 0,
      });
      const words = await prepareCaptions(ctx, stream, {
        source: { binding: captions, base: 0 }, lengths, m0: 0, count: M, L, D, format: 'int8',
        rowsPerTile: plan.fused!.ROWS, capsPerTile: plan.fused!.CAPS, padRows: plan.fused!.ROWS, wordGram: { softmax: true, lambdaIntra: 5 },
      }, holder);
      const out = take(ctx.pool.acquire(N * M * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, 'check scores'));
      stream.commandEncoder().clearBuffer(out);
      const scratch = new Scratch(ctx, stream, 0);
      // The chunk from image `first` on: its rows and scales start past the buffer's first.
      for (const part of [subChunk(chunk, 0, first, R, D), subChunk(chunk, first, N - first, R, D)]) {
        await encodeChunkScores(ctx, stream, { plan, opts, R, D, L, images: part, captions: words, out: { buffer: out, offset: 0, stride: M, column: 0 }, scratch });
      }
      outputs.push(await stream.read(out, 0, N * M));
      await stream.finish(false);
    } catch (error) {
      await stream.abandon();
      throw error;
    } finally {
      for (const buffer of holder) ctx.pool.release(buffer);
    }
  }
  return outputs[0].every((v, i) => Number.isFinite(v) && Math.abs(v - outputs[1][i]) <= TOLERANCE);
}

const TOLERANCE = 1e-5;
