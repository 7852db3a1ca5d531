// The item gather (kernels/gather_items.wgsl) against its reference: bit for bit (NaN payloads
// and all, the words are copied as u32), scattered and repeated sources, destinations in any
// order, items narrower and wider than a workgroup, and entries split over several dispatches.
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.js';
import { encodeGather, gatherPipeline } from '../../src/ops/gather.js';
import { gatherItemsRef } from '../../src/ref/gather.js';
import { sharedEngine } from '../gpu.js';
import { rng } from '../random.js';

const engine = await sharedEngine();
const ctx = (engine as unknown as { ctx: GpuContext }).ctx;

async function gather(src: Uint32Array, dstItems: number, entries: number[], words: number, perDispatch?: number): Promise<Uint32Array> {
  const pipeline = await gatherPipeline(ctx);
  const srcBuffer = ctx.upload(src, 'test src');
  const initial = Uint32Array.from({ length: dstItems * words }, (_, i) => 0xdead0000 + i);
  const dst = ctx.upload(initial, 'test dst');
  const items = ctx.upload(Uint32Array.from(entries), 'test items');
  const transient: GPUBuffer[] = [srcBuffer, dst, items];
  const encoder = ctx.createEncoder('test');
  const pass = ctx.beginPass(encoder, 'test');
  encodeGather(ctx, pass, pipeline, { src: srcBuffer, dst, items, count: entries.length / 2, words, perDispatch }, transient);
  pass.end();
  const out = new Uint32Array((await ctx.readFloat32(dst, 0, dstItems * words, encoder)).buffer);
  transient.forEach((b) => ctx.pool.release(b));
  return out;
}

describe('gather_items', () => {
  it.each([[1, 'one word'], [7, 'fewer words than threads'], [100, 'a Gram of R 10'], [480, 'an image of R 10 x D 48']])('items of %i words (%s): equal the reference bit for bit', async (words) => {
    const next = rng(words);
    const srcItems = 23;
    // Arbitrary bit patterns, NaN payloads among them: a float copy could change those.
    const src = Uint32Array.from({ length: srcItems * words }, (_, i) => (i % 5 === 0 ? 0x7fc00001 + i : Math.floor(next() * 2 ** 32)));
    const dstItems = 12;
    const sources = [22, 0, 5, 5, 17, 3, 9, 21, 11];
    const destinations = [4, 0, 11, 2, 7, 9, 1, 10, 5];
    const entries = sources.flatMap((s, i) => [s, destinations[i]!]);
    const initial = Uint32Array.from({ length: dstItems * words }, (_, i) => 0xdead0000 + i);
    const want = gatherItemsRef(src, initial, entries, words);
    expect(Array.from(await gather(src, dstItems, entries, words))).toEqual(Array.from(want));
    // The same entries over dispatches of 2 entries each.
    expect(Array.from(await gather(src, dstItems, entries, words, 2))).toEqual(Array.from(want));
  });
});
