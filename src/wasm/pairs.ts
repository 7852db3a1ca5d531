// Scores of chosen (image, caption) pairs on the CPU backend (engine.scorePairs, gallery
// scorePairs, topK's exact re-scoring): each caption a pass names is packed once, as a tile of
// its own, and each pair is a job of its image against that tile, its score written to its slot. Only the images and captions the pairs name are made ready,
// in passes within options.maxGpuBytes (or read where they lie in a resident gallery). A pair's
// score is bit for bit the dense one: the kernels compute every word and caption alike in any tile.
import { throwIfAborted } from '../gpu/submit.js';
import type { ResolvedOptions } from '../similarity/validate.js';
import type { WasmHeap } from './heap.js';
import type { WasmRuntime } from './runtime.js';
import type { CaptionRows, ResidentPart } from './blocks.js';
import { TilePlanner, WasmImages, imageBytes, prepareCaptions, prepareImages, runScore } from './score.js';
import { HeapScope } from './structs.js';

/** Where a pair call's images come from: rows gathered by id, or a resident gallery's parts. */
export type PairImageFeed =
  | { kind: 'rows'; N: number; R: number; D: number; gather: (ids: number[]) => Promise<Float32Array> }
  | { kind: 'resident'; N: number; R: number; D: number; part: (n: number) => ResidentPart };

/** Scores of pairs (pairs.images[i], pairs.captions[i]) in pair order; indices already checked. */
export async function wasmScorePairs(rt: WasmRuntime, what: string, opts: ResolvedOptions, images: PairImageFeed, captions: CaptionRows,
  pairImages: Int32Array, pairCaptions: Int32Array): Promise<Float32Array> {
  const P = pairImages.length;
  const { R, D } = images;
  const { L } = captions;
  const result = new Float32Array(P);
  const perImage = images.kind === 'rows' ? imageBytes(R, D, 'f32') : 0;
  const perCaption = L * D * 4 * 2 + L * L * 4 + 64;
  const budget = Math.min(opts.maxGpuBytes, Math.max(4 << 20, rt.heap.available / 2));
  const imageRoom = perImage ? Math.max(1, Math.floor(budget / 4 / perImage)) : Infinity;
  const captionRoom = Math.max(1, Math.floor(budget / 2 / perCaption));
  // Passes hold what they name within a quarter (images) and a half (captions) of the budget.
  // Where every image named fits one pass (a shortlist, topK's re-scoring), pairs go by caption,
  // so each caption is made ready once; else by image. A resident gallery's pairs go by shard first.
  const shardIds = new Map<WasmImages, number>();
  const shardOf = (n: number) => {
    if (images.kind !== 'resident') return 0;
    const part = images.part(n).images;
    if (!shardIds.has(part)) shardIds.set(part, shardIds.size);
    return shardIds.get(part)!;
  };
  const byCaption = new Set(pairImages).size <= imageRoom;
  const order = Uint32Array.from({ length: P }, (_, i) => i).sort((x, y) => shardOf(pairImages[x]) - shardOf(pairImages[y])
    || (byCaption ? pairCaptions[x] - pairCaptions[y] : pairImages[x] - pairImages[y]) || x - y);
  const key = byCaption ? pairCaptions : pairImages;
  let i = 0;
  while (i < P) {
    throwIfAborted(what, opts.signal);
    // One shard per pass (a resident gallery's shards may lie in several heaps).
    const shard = images.kind === 'resident' ? images.part(pairImages[order[i]]).images : null;
    const heap = shard ? shard.heap : rt.heap;
    const passImages = new Set<number>();
    const passCaptions = new Map<number, number>();
    const start = i;
    while (i < P) {
      if (images.kind === 'resident' && images.part(pairImages[order[i]]).images !== shard) break;
      // The next run of pairs with the same key (an image's, or a caption's), taken whole.
      let end = i;
      const newImages = new Set<number>();
      const newCaptions = new Set<number>();
      while (end < P && key[order[end]] === key[order[i]] && shardOf(pairImages[order[end]]) === shardOf(pairImages[order[i]])) {
        const n = pairImages[order[end]];
        const m = pairCaptions[order[end]];
        if (!passImages.has(n)) newImages.add(n);
        if (!passCaptions.has(m)) newCaptions.add(m);
        end++;
      }
      const full = passImages.size + newImages.size > imageRoom || passCaptions.size + newCaptions.size > captionRoom;
      if (i > start && full) break;
      for (const n of newImages) passImages.add(n);
      for (const m of newCaptions) passCaptions.set(m, passCaptions.size);
      i = end;
    }
    // Within a pass, a pair's job follows its image's (an image's rows stay in cache between its jobs).
    const pairs = Uint32Array.from(order.subarray(start, i)).sort((x, y) => pairImages[x] - pairImages[y] || x - y);
    await scorePass(rt, heap, opts, images, captions, [...passImages].sort((x, y) => x - y), passCaptions, pairs, pairImages, pairCaptions, result);
  }
  return result;
}

async function scorePass(rt: WasmRuntime, heap: WasmHeap, opts: ResolvedOptions, images: PairImageFeed, captions: CaptionRows,
  passImages: number[], passCaptions: Map<number, number>, pairs: Uint32Array, pairImages: Int32Array, pairCaptions: Int32Array,
  result: Float32Array): Promise<void> {
  const { R, D } = images;
  const { L } = captions;
  const scope = new HeapScope(heap);
  try {
    // The pass's captions, gathered [C][L][D] in the order first named.
    const C = passCaptions.size;
    const rows = new Float32Array(C * L * D);
    const lengths = new Int32Array(C);
    for (const [m, local] of passCaptions) {
      rows.set(captions.data.subarray(m * L * D, (m + 1) * L * D), local * L * D);
      lengths[local] = captions.lengths[m];
    }
    // Each image's tiles: its captions in pair order, each writing its own pair's slot.
    const planner = new TilePlanner();
    const jobs: number[] = [];
    let ready: WasmImages;
    const imageIndex = new Map<number, number>();
    if (images.kind === 'rows') {
      passImages.forEach((n, k) => imageIndex.set(n, k));
      ready = await prepareImages(rt, scope, await images.gather(passImages), passImages.length, R, D, 'f32', scope);
    } else {
      ready = images.part(passImages[0]).images;
      for (const n of passImages) {
        const part = images.part(n);
        imageIndex.set(n, part.first + (n - part.n0));
      }
    }
    // Each caption of the pass is packed once, as a tile of its own; a pair is a job of its image
    // against its caption's tile, writing to slot j (its place in `pairs`, scattered to the result
    // after) through the job's column offset.
    const tileOf = new Map<number, number>();
    for (let j = 0; j < pairs.length; j++) {
      const c = passCaptions.get(pairCaptions[pairs[j]])!;
      let tile = tileOf.get(c);
      if (tile === undefined) {
        tile = planner.add([c], [lengths[c]], [0])[0];
        tileOf.set(c, tile);
      }
      jobs.push(imageIndex.get(pairImages[pairs[j]])!, 1, tile, j);
    }
    const plan = planner.plan();
    const prepared = await prepareCaptions(rt, scope, rows, lengths, C, L, D, 'f32', opts, plan);
    const out = scope.alloc(Math.max(4, pairs.length * 4), 'pair scores');
    await runScore(rt, scope, opts, ready, prepared, Int32Array.from(jobs), { out, stride: 0, image0: 0 });
    const scores = heap.f32(out, pairs.length);
    pairs.forEach((pair, j) => { result[pair] = scores[j]; });
  } finally {
    scope.free();
  }
}
