// Run by test/wasm/backend.test.ts in child processes, on the bundle (dist/index.js): prints the
// engine's backend and features, and the golden case's NAAF and SCAN scores against their
// expected values. Argument: the backend option ('' for none: NAAF_BACKEND or 'auto').
// `--leave` skips destroy(): the process must exit anyway.
import { readFileSync } from 'node:fs';
import { NaafEngine } from '../../dist/index.js';

const backend = process.argv[2] || undefined;
const engine = await NaafEngine.create(backend ? { backend } : {});
const c = JSON.parse(readFileSync(new URL('../fixtures/case2_small.json', import.meta.url), 'utf8'));
const images = { data: Float32Array.from(c.inputs.img.flat(2)), shape: [c.inputs.img.length, c.inputs.img[0].length, c.inputs.img[0][0].length] };
const captions = { data: Float32Array.from(c.inputs.cap.flat(2)), shape: [c.inputs.cap.length, c.inputs.cap[0].length, c.inputs.cap[0][0].length], lengths: c.inputs.cap_lens };
let worst = 0;
for (const [key, options] of [['naaf_sims', { method: 'naaf', threshold: c.params.threshold, lambdaSoftmax: c.params.lambda_softmax }], ['scan_t2i_lse', { method: 'scan-t2i', lambdaSoftmax: c.params.t2i_lambda_softmax, lambdaLse: c.params.t2i_lambda_lse }]]) {
  const sims = await engine.similarity(images, captions, options);
  const expected = c.expected[key].flat();
  for (let i = 0; i < sims.length; i++) worst = Math.max(worst, Math.abs(sims[i] - expected[i]));
}
console.log(JSON.stringify({ backend: engine.backend, features: engine.info.features, line: engine.describe(), worst }));
if (!process.argv.includes('--leave')) engine.destroy();
