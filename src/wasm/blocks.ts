// Scores of any number of images against any number of captions on the CPU backend, a block at a
// time, as src/similarity/blocks.ts does on the GPU: captions are made ready once per block of
// them (up to half of options.maxGpuBytes, which bounds WASM memory here), images are streamed
// past them in blocks (a quarter), or read where they lie in a resident gallery, and each block's
// scores (at most 64 MiB) are handed over as soon as they are done.
import { NpyReader } from '../io/npy.js';
import type { BlockScores } from '../similarity/blocks.js';
import type { ResolvedOptions } from '../similarity/validate.js';
import { throwIfAborted } from '../gpu/submit.js';
import type { WasmHeap } from './heap.js';
import type { WasmRuntime } from './runtime.js';
import { WasmCaptions, WasmFormat, WasmImages, denseJobs, denseTiles, imageBytes, int8RowLength, prepareCaptions, prepareImages, runScore } from './score.js';
import { HeapScope } from './structs.js';

/** A block's scores are at most this many bytes. */
const BLOCK_RESULT_BYTES = 64 * 2 ** 20;

/** Images as a CPU call reads them: f32 rows read by range, or resident (a gallery's shards). */
export type WasmImageFeed =
  | { kind: 'rows'; N: number; R: number; D: number; read: (start: number, count: number) => Promise<Float32Array> | Float32Array }
  | { kind: 'resident'; N: number; R: number; D: number; format: WasmFormat; parts: (start: number, count: number) => ResidentPart[] };

/** A run of a gallery's images in one shard: its images [first, first + count) are the call's [n0, n0 + count). */
export interface ResidentPart { images: WasmImages; first: number; count: number; n0: number }

export interface CaptionRows { M: number; L: number; D: number; data: Float32Array; lengths: Uint32Array }

export interface WasmBlocksArgs {
  what: string;
  opts: ResolvedOptions;
  images: WasmImageFeed;
  captions: CaptionRows;
  /** The format images are scored in (resident: theirs). */
  format: WasmFormat;
  onBlock: (block: BlockScores & { wordTerms?: Float32Array }) => void;
  /** NAAF's per-word terms as well (engine.naafWordTerms): one block only. */
  wordTerms?: boolean;
  onProgress?: (done: number) => void;
  /** Candidates per block at most (topK's blockSize): images (t2i), or captions (i2t). */
  maxImageBlock?: number;
  maxCaptionBlock?: number;
}

function perCaptionBytes(L: number, D: number, format: WasmFormat): number {
  // The rows, word Gram, packed panels (a tile pads to 8 words) and, at int8, dequantised rows.
  return L * D * 4 + L * L * 4 + (L + 8) * (format === 'int8' ? int8RowLength(D) * 2 + 4 + D * 4 + int8RowLength(D) : D * 4) + 64;
}

function perImageBytes(R: number, D: number, format: WasmFormat, resident: boolean): number {
  return resident ? 0 : imageBytes(R, D, format) + (format === 'f32' ? 0 : R * D * 4);
}

export async function runWasmBlocks(rt: WasmRuntime, a: WasmBlocksArgs): Promise<void> {
  const { images, captions, opts } = a;
  const { R, D } = images;
  const { M, L } = captions;
  // Within the call's budget, and within what the memory it works in can still take.
  const budget = Math.min(opts.maxGpuBytes, Math.max(4 << 20, rt.heap.available / 2));
  const fixed = 64 * 1024; // structs, tile tables, a thread's share of small blocks
  const perCaption = perCaptionBytes(L, D, a.format);
  const perImage = perImageBytes(R, D, a.format, images.kind === 'resident');
  const fit = (perItem: number, share: number, what: string) => {
    if (perItem === 0) return Infinity;
    const n = Math.floor((budget * share - fixed) / perItem);
    if (n < 1) {
      throw new Error(`${a.what}: options.maxGpuBytes = ${budget} is too small: one ${what} needs ${perItem} bytes of WASM memory and gets `
        + `${Math.max(0, Math.floor(budget * share - fixed))} of the budget (${share === 0.5 ? 'half' : 'a quarter'}; raise maxGpuBytes to at least ${Math.ceil((perItem + fixed) / share)})`);
    }
    return n;
  };
  let blockCaptions = Math.min(M, fit(perCaption, 0.5, `caption [L=${L}, D=${D}]`), opts.maxCaptionsPerChunk, a.maxCaptionBlock ?? Infinity);
  let blockImages = Math.min(images.N, fit(perImage, 0.25, `image [R=${R}, D=${D}]`), opts.maxImagesPerChunk, a.maxImageBlock ?? Infinity);
  const resultBytes = Math.min(BLOCK_RESULT_BYTES, budget / 8);
  blockCaptions = Math.max(1, Math.min(blockCaptions, Math.floor(resultBytes / 4)));
  blockImages = Math.max(1, Math.min(blockImages, Math.floor(resultBytes / (4 * blockCaptions))));
  if (a.wordTerms && (blockImages < images.N || blockCaptions < M)) {
    throw new Error(`${a.what}: ${images.N} images x ${M} captions do not fit one block within options.maxGpuBytes = ${budget} (at most ${blockImages} x ${blockCaptions}); use fewer at a time`);
  }
  const total = Math.ceil(M / blockCaptions) * Math.ceil(images.N / blockImages);
  let done = 0;
  // Rows that fit one block are made ready once for every block of captions.
  let once: { scope: HeapScope; images: WasmImages } | null = null;
  try {
    if (images.kind === 'rows' && blockImages >= images.N && M > blockCaptions) {
      const scope = new HeapScope(rt.heap);
      try {
        once = { scope, images: await prepareRows(rt, scope, images, 0, images.N, a.format, a.what) };
      } catch (error) {
        scope.free();
        throw error;
      }
    }
    await captionBlocks();
  } finally {
    once?.scope.free();
  }

  async function captionBlocks(): Promise<void> {
    for (let m0 = 0; m0 < M; m0 += blockCaptions) {
      const mCount = Math.min(blockCaptions, M - m0);
      // Captions are made ready in each heap the images lie in (a gallery's shards may span several).
      const ready = new Map<WasmHeap, { scope: HeapScope; captions: WasmCaptions }>();
      const captionsIn = async (heap: WasmHeap) => {
        let entry = ready.get(heap);
        if (!entry) {
          const scope = new HeapScope(heap);
          try {
            const lengths = captions.lengths.subarray(m0, m0 + mCount);
            const plan = denseTiles(lengths);
            const rows = captions.data.subarray(m0 * L * D, (m0 + mCount) * L * D);
            entry = { scope, captions: await prepareCaptions(rt, scope, rows, lengths, mCount, L, D, a.format, opts, plan) };
          } catch (error) {
            scope.free();
            throw error;
          }
          ready.set(heap, entry);
        }
        return entry.captions;
      };
      try {
        for (let n0 = 0; n0 < images.N; n0 += blockImages) {
          const nCount = Math.min(blockImages, images.N - n0);
          throwIfAborted(a.what, opts.signal);
          const scope = new HeapScope(rt.heap);
          try {
            const out = scope.alloc(nCount * mCount * 4, 'similarity block');
            const terms = a.wordTerms ? scope.alloc(nCount * mCount * L * 16, 'word terms') : 0;
            if (terms) scope.heap.f32(terms, nCount * mCount * L * 4).fill(0);
            const parts: ResidentPart[] = images.kind === 'resident'
              ? images.parts(n0, nCount).map((p) => ({ ...p, n0: p.n0 - n0 }))
              : [{ images: once?.images ?? await prepareRows(rt, scope, images, n0, nCount, a.format, a.what), first: 0, count: nCount, n0: 0 }];
            for (const part of parts) {
              const heap = part.images.heap;
              const prepared = await captionsIn(heap);
              // The part's scores go to rows [part.n0, ...) of the block: through its own heap's buffer when not the first heap.
              const local = heap === scope.heap ? null : new HeapScope(heap);
              try {
                const target = local ? local.alloc(part.count * mCount * 4, 'similarity block') : out + part.n0 * mCount * 4;
                const jobs = denseJobs(prepared.plan, part.first, part.count, R, D, rt.threads);
                await runScore(rt, local ?? scope, opts, part.images, prepared, jobs, { out: target, stride: mCount, image0: part.first, wordTerms: terms && terms + part.n0 * mCount * L * 16 });
                if (local) scope.heap.f32(out + part.n0 * mCount * 4, part.count * mCount).set(heap.f32(target, part.count * mCount));
              } finally {
                local?.free();
              }
            }
            const scores = scope.heap.f32(out, nCount * mCount).slice();
            const wordTerms = terms ? scope.heap.f32(terms, nCount * mCount * L * 4).slice() : undefined;
            a.onBlock({ n0, images: nCount, m0, captions: mCount, scores, ...(wordTerms ? { wordTerms } : {}) });
          } finally {
            scope.free();
          }
          a.onProgress?.(++done / total);
        }
      } finally {
        for (const entry of ready.values()) entry.scope.free();
      }
    }
    }
  }

  async function prepareRows(rt: WasmRuntime, scope: HeapScope, images: Extract<WasmImageFeed, { kind: 'rows' }>, n0: number, count: number,
    format: WasmFormat, what: string): Promise<WasmImages> {
    const rows = await images.read(n0, count);
    return prepareImages(rt, scope, rows, count, images.R, images.D, format, scope);
  }

  /** f32 rows of images as a CPU call reads them (a Float32Array or a .npy file). */
  export function rowsFeed(images: { data: Float32Array } | NpyReader, N: number, R: number, D: number,
    check?: (rows: Float32Array, start: number) => void): WasmImageFeed {
    if (images instanceof NpyReader) {
      return { kind: 'rows', N, R, D, read: async (start, count) => {
        const rows = await images.readRows(start, count);
        check?.(rows, start);
        return rows;
      } };
  }
  const data = images.data;
  return { kind: 'rows', N, R, D, read: (start, count) => data.subarray(start * R * D, (start + count) * R * D) };
}
