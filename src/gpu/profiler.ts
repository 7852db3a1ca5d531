// GPU time per kernel from timestamp queries: with profiling on, every dispatch runs in its own
// compute pass whose beginning and end are timestamped (src/gpu/pass.ts); at submit the
// queries are resolved and copied to a mappable buffer, read after the work is done, and added
// up per label (the pipeline's, or the launcher's where one pipeline serves several ops). One pass per dispatch adds barriers: profiled runs are a little slower.

export interface KernelTime {
  kernel: string; // the dispatch label (the pipeline label unless the launcher names the op), e.g. 'score_gemm_f32_vec4'
  ms: number; // GPU time summed over its dispatches
  dispatches: number;
  share: number; // of the summed time of all kernels
}

const QUERIES_PER_SET = 512; // 256 dispatches

interface QueryChunk {
  set: GPUQuerySet;
  labels: string[]; // one per timestamp pair
}

export class Profiler {
  private readonly open = new WeakMap<GPUCommandEncoder, QueryChunk[]>();
  private readonly pending: Promise<void>[] = [];
  private readonly totals = new Map<string, { ns: number; dispatches: number }>();

  constructor(private readonly device: GPUDevice) {}

  /** Timestamp writes for the next dispatch of `encoder`, recorded under `label`. */
  timestampWrites(encoder: GPUCommandEncoder, label: string): GPUComputePassTimestampWrites {
    let chunks = this.open.get(encoder);
    if (!chunks) this.open.set(encoder, (chunks = []));
    let chunk = chunks[chunks.length - 1];
    if (!chunk || chunk.labels.length * 2 >= QUERIES_PER_SET) {
      chunk = { set: this.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET, label: 'profile' }), labels: [] };
      chunks.push(chunk);
    }
    const index = chunk.labels.length * 2;
    chunk.labels.push(label);
    return { querySet: chunk.set, beginningOfPassWriteIndex: index, endOfPassWriteIndex: index + 1 };
  }

  /** Records the resolves of `encoder`'s queries; call just before it is finished and submitted. */
  beforeSubmit(encoder: GPUCommandEncoder): (() => void) | null {
    const chunks = this.open.get(encoder);
    if (!chunks) return null;
    this.open.delete(encoder);
    const reads = chunks.map((chunk) => {
      const bytes = chunk.labels.length * 16;
      const resolved = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profile resolve' });
      const readback = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profile readback' });
      encoder.resolveQuerySet(chunk.set, 0, chunk.labels.length * 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
      return { chunk, resolved, readback, bytes };
    });
    // After the submit: map and add up (asynchronously; kernelTimes() waits for it).
    return () => {
      for (const { chunk, resolved, readback, bytes } of reads) {
        this.pending.push(readback.mapAsync(GPUMapMode.READ, 0, bytes).then(() => {
          const stamps = new BigUint64Array(readback.getMappedRange(0, bytes));
          chunk.labels.forEach((label, i) => {
            const ns = Number(stamps[2 * i + 1] - stamps[2 * i]);
            const total = this.totals.get(label) ?? { ns: 0, dispatches: 0 };
            total.ns += Math.max(0, ns);
            total.dispatches++;
            this.totals.set(label, total);
          });
          readback.unmap();
        }).finally(() => {
          readback.destroy();
          resolved.destroy();
          chunk.set.destroy();
        }));
      }
    };
  }

  /** Per-kernel GPU time since the last call, largest first; clears the totals. */
  async take(): Promise<KernelTime[]> {
    while (this.pending.length > 0) await Promise.all(this.pending.splice(0));
    const all = [...this.totals.entries()];
    this.totals.clear();
    const sum = all.reduce((acc, [, t]) => acc + t.ns, 0);
    return all
      .map(([kernel, t]) => ({ kernel, ms: t.ns / 1e6, dispatches: t.dispatches, share: sum > 0 ? t.ns / sum : 0 }))
      .sort((a, b) => b.ms - a.ms);
  }
}

/** A table of kernel times: kernel, dispatches, ms, share. */
export function formatKernelTimes(times: readonly KernelTime[]): string {
  const total = times.reduce((acc, t) => acc + t.ms, 0);
  const lines = ['| kernel | dispatches | GPU ms | share |', '|---|---|---|---|'];
  for (const t of times) lines.push(`| ${t.kernel} | ${t.dispatches} | ${t.ms.toFixed(3)} | ${(100 * t.share).toFixed(1)}% |`);
  lines.push(`| total | ${times.reduce((acc, t) => acc + t.dispatches, 0)} | ${total.toFixed(3)} | 100% |`);
  return lines.join('\n');
}
