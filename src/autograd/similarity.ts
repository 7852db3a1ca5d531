// The training-path similarity as a tape op: NAAF (spec 3.2, with mismatch mining between
// captions, spec 3.3) or SCAN t2i / i2t (the registry's training forward), forward by the split
// score kernels, backward by src/ops/scoreBackward.ts (split: GEMMs and an epilogue).
import { encodeNaafTrainingSimilarity, type DmmState } from '../ops/naafTrain.js';
import { encodeScoreBackward } from '../ops/scoreBackward.js';
import { CommandStream } from '../gpu/submit.js';
import { runBlocks } from '../similarity/blocks.js';
import { resolvePlan } from '../similarity/plan.js';
import { resolveOptions } from '../similarity/validate.js';
import type { ResolvedTrainerOptions } from '../train/options.js';
import { Tape, Variable } from './tape.js';
import { methodSpec } from '../methods/index.js';
import type { SimilarityOptions } from '../types.js';

export interface PairDims {
  B: number; R: number; L: number; D: number;
  lengths: Int32Array; // [B]
}

/**
 * sims [B, B] (rows images, columns captions; caption i pairs with image i) of region
 * embeddings [B*R, D] and word embeddings [B*L, D]. For NAAF also the mining state after the
 * batch (a GPU buffer of 6 floats, DmmState order).
 */
export async function trainingSimilarity(tape: Tape, images: Variable, captions: Variable, dims: PairDims,
  options: ResolvedTrainerOptions, state: DmmState): Promise<{ sims: Variable; state: GPUBuffer | null }> {
  const { B, R, L, D, lengths } = dims;
  const { ctx } = tape;
  tape.use(images, 'similarity');
  tape.use(captions, 'similarity');
  let sims: Variable;
  let stateAfter: GPUBuffer | null = null;
  let thresholds: GPUBuffer | undefined;
  const spec = methodSpec(options.method, 'trainingSimilarity');
  if (spec.training.forward === 'naaf-mining') {
    const out = await encodeNaafTrainingSimilarity(ctx, tape.encoder, { images: images.data, captions: captions.data, lengths, B, R, L, D },
      state, { alpha: options.alpha, lambdaSoftmax: options.lambdaSoftmax }, tape.transient);
    sims = new Variable(out.sims, [B, B], 'naaf training sims');
    stateAfter = out.state;
    thresholds = out.thresholdsUsed;
  } else {
    sims = tape.variable([B, B], `${options.method} sims`);
    if (!spec.training.similarityOptions) throw new Error(`trainingSimilarity: method '${spec.name}' has no training forward`);
    const resolved = resolveOptions(spec.training.similarityOptions(options) as unknown as SimilarityOptions);
    // Into the step's encoder (a training step is one submission), all of the batch in one block.
    const plan = await resolvePlan(ctx, { R, D, L }, resolved, true);
    const stream = CommandStream.into(ctx, 'training similarity', tape.encoder, tape.transient);
    await runBlocks(ctx, {
      what: 'training similarity', plan, opts: resolved, maxGpuBytes: Infinity, outer: 'captions', stream, singleBlock: true,
      images: { kind: 'gpu', N: B, R, D, buffer: images.data, offset: 0 },
      captions: { kind: 'gpu', M: B, L, D, buffer: captions.data, offset: 0, lengths: Uint32Array.from(lengths) },
      target: { buffer: sims.data, offset: 0 },
    });
    stream.end();
  }
  tape.record('similarity', async (encoder) => {
    await encodeScoreBackward(ctx, encoder, {
      method: spec.backward,
      N: B, R, M: B, L, D, images: images.data, captions: captions.data, lengths, thresholds,
      lambdaSoftmax: options.lambdaSoftmax, lse: options.aggregation === 'lse', lambdaLse: options.lambdaLse,
      gradScores: tape.gradOf(sims), gradImages: tape.gradOf(images), gradCaptions: tape.gradOf(captions),
    }, tape.transient);
  });
  return { sims, state: stateAfter };
}
