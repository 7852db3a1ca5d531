// Run by test/gpu/context.test.ts in a child process: the bundle works in plain Node, and the
// process exits on its own once the engine is destroyed.
import { NaafEngine } from '../../dist/index.js';

const engine = await NaafEngine.create();
const sims = await engine.similarity(
  { data: new Float32Array([1, 0, 0, 1]), shape: [1, 2, 2] },
  { data: new Float32Array([1, 0, 0.6, 0.8]), shape: [1, 2, 2], lengths: [2] },
  { method: 'scan-t2i' },
);
engine.destroy();
console.log(JSON.stringify({ sims: Array.from(sims), runtime: engine.info.runtime }));
