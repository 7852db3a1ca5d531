// Run by test/deno.test.ts with the `deno` npm package: the built bundle reproduces a golden
// case through Deno's own WebGPU (navigator.gpu), or with a second argument (a backend: 'wasm')
// on that backend, and prints the worst errors as JSON.
import { NaafEngine } from '../../dist/index.js';

const name = Deno.args[0] ?? 'case2_small';
const json = JSON.parse(await Deno.readTextFile(new URL(`../fixtures/${name}.json`, import.meta.url)));
const img = json.inputs.img;
const cap = json.inputs.cap;
const images = { data: Float32Array.from(img.flat(2)), shape: [img.length, img[0].length, img[0][0].length] };
const captions = { data: Float32Array.from(cap.flat(2)), shape: [cap.length, cap[0].length, cap[0][0].length], lengths: json.inputs.cap_lens };
const p = json.params;

const variants = {
  naaf_sims: { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax },
  naaf_sims_no_intra: { method: 'naaf', threshold: p.threshold, lambdaSoftmax: p.lambda_softmax, intra: false },
  scan_t2i_lse: { method: 'scan-t2i', lambdaSoftmax: p.t2i_lambda_softmax, lambdaLse: p.t2i_lambda_lse },
  scan_i2t_avg: { method: 'scan-i2t', lambdaSoftmax: p.i2t_lambda_softmax, aggregation: 'mean' },
};

const backend = Deno.args[1] ?? 'webgpu';
const engine = await NaafEngine.create({ backend });
const worst = {};
for (const [key, options] of Object.entries(variants)) {
  const sims = await engine.similarity(images, captions, options);
  const expected = json.expected[key].flat();
  worst[key] = Math.max(...expected.map((v, i) => Math.abs(v - sims[i])));
}
const info = engine.info;
engine.destroy();
console.log(JSON.stringify({ runtime: info.runtime, device: info.description, line: engine.describe(), worst }));
