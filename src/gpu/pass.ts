// A compute pass as the launchers see it: one real pass, or (profiling) one timestamped pass
// per dispatch, so each kernel's GPU time can be read (src/gpu/profiler.ts).
import type { Profiler } from './profiler.js';

export class GpuPass {
  private readonly pass: GPUComputePassEncoder | null;

  constructor(private readonly encoder: GPUCommandEncoder, label: string, private readonly profiler: Profiler | null) {
    this.pass = profiler ? null : encoder.beginComputePass({ label });
  }

  /** `label`: what a profile files this dispatch under (default: the pipeline's label). */
  dispatch(pipeline: GPUComputePipeline, group: GPUBindGroup, x: number, y: number, z: number, label = pipeline.label): void {
    let pass = this.pass;
    if (!pass) {
      pass = this.encoder.beginComputePass({ label, timestampWrites: this.profiler!.timestampWrites(this.encoder, label) });
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(x, y, z);
    if (!this.pass) pass.end();
  }

  end(): void {
    this.pass?.end();
  }
}
