// Where the time goes: the same N x M similarity at two embedding sizes D. The word-region
// product scales with D and the epilogue (softmaxes, Gram forms, aggregation) does not, so
//   product(D_hi) ~ (t_hi - t_lo) * D_hi / (D_hi - D_lo),   rest ~ t_hi - product(D_hi).
// Usage: node bench/split.bench.mjs [--shape f30k] [--unsafe] [--dims 128,1024] [--tiles JSON] [--dist PATH]
//   --tiles  {"f32": {...}, "int8": {...}}: the tile per precision family, the same at both D
import { SHAPES, makeInputs } from './shapes.mjs';
import { argValue as value, median, storageBuffer } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
// --dist: another build of the package (e.g. the previous commit's) to compare on the same machine
const { NaafEngine } = await import(value('dist', '../dist/index.js'));
const shapeName = value('shape', 'demo');
const [dLo, dHi] = value('dims', '128,1024').split(',').map(Number);
const dawnFlags = args.includes('--unsafe') ? ['enable-dawn-features=allow_unsafe_apis'] : [];
const engine = await NaafEngine.create({ backend: 'webgpu', dawnFlags });
const device = engine.device;
const int8 = await engine.int8Product();
const precisions = ['f32', ...(int8 ? ['int8-dot4'] : []), ...(int8 === 'subgroup-matrix' ? ['int8-subgroup-matrix'] : [])];
const tiles = JSON.parse(value('tiles', '{}'));

const times = {};
for (const D of [dLo, dHi]) {
  const shape = { ...SHAPES[shapeName], D };
  const { images, captions, lengths, L } = makeInputs(shape);
  const upload = (data) => storageBuffer(device, data);
  const img = { buffer: upload(images), shape: [shape.N, shape.R, D] };
  const cap = { buffer: upload(captions()), shape: [shape.M, L, D], lengths };
  const out = device.createBuffer({ size: shape.N * shape.M * 4, usage: GPUBufferUsage.STORAGE });
  for (const precision of precisions) {
    const tile = tiles[precision === 'f32' ? 'f32' : 'int8'];
    const options = { method: 'naaf', threshold: 0.2, precision, ...(tile ? { tile } : {}) };
    const run = async () => {
      const t = performance.now();
      await engine.similarityInto(img, cap, options, { buffer: out });
      await device.queue.onSubmittedWorkDone();
      return performance.now() - t;
    };
    await run();
    const samples = [await run(), await run(), await run()];
    times[`${precision}|${D}`] = median(samples);
  }
  img.buffer.destroy();
  cap.buffer.destroy();
  out.destroy();
}
const info = engine.info;
console.log(`build: ${value('dist', '../dist/index.js')}; device: ${info.description} (${info.runtime}); shape ${shapeName} (N x M = ${SHAPES[shapeName].N} x ${SHAPES[shapeName].M}), NAAF, D = ${dLo} and ${dHi}\n`);
console.log(`| precision | ms at D=${dLo} | ms at D=${dHi} | product at D=${dHi} (ms, est.) | rest (ms, est.) |`);
console.log('|---|---|---|---|---|');
for (const precision of precisions) {
  const lo = times[`${precision}|${dLo}`];
  const hi = times[`${precision}|${dHi}`];
  const product = ((hi - lo) * dHi) / (dHi - dLo);
  console.log(`| ${precision} | ${lo.toFixed(1)} | ${hi.toFixed(1)} | ${product.toFixed(1)} | ${(hi - product).toFixed(1)} |`);
}
engine.destroy();
