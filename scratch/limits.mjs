import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const { NaafEngine, initialState } = await import('/work/main/dist/index.js');
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const device = await adapter.requestDevice();
console.log('limits', device.limits.maxStorageBuffersPerShaderStage, device.limits.maxComputeWorkgroupStorageSize, device.limits.maxBufferSize, device.limits.maxStorageBufferBindingSize, [...device.features]);
const engine = await NaafEngine.create({ device });
const rnd = (() => { let s = 1; return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32); })();
const norm = (n, r, d) => { const a = new Float32Array(n * r * d); for (let i = 0; i < n * r; i++) { let ss = 0; for (let k = 0; k < d; k++) { const v = rnd() - 0.5; a[i * d + k] = v; ss += v * v; } for (let k = 0; k < d; k++) a[i * d + k] /= Math.sqrt(ss); } return a; };
const N = 4, R = 6, D = 16, M = 5, L = 7;
const images = { data: norm(N, R, D), shape: [N, R, D] };
const captions = { data: norm(M, L, D), shape: [M, L, D], lengths: [7, 3, 5, 1, 6] };
async function tryit(name, f) { try { await f(); console.log('OK  ', name); } catch (e) { console.log('FAIL', name, '::', e.message.slice(0, 300)); } }
const methods = [{ method: 'naaf', threshold: 0.1 }, { method: 'scan-t2i' }, { method: 'scan-i2t' }];
for (const m of methods) for (const kernel of ['split', 'fused']) for (const precision of ['f32', 'f16', 'int8']) {
  if (kernel === 'fused' && precision === 'f16') continue;
  await tryit(`${m.method} ${kernel} ${precision}`, () => engine.similarity(images, captions, { ...m, kernel, precision }));
}
await tryit('topK', () => engine.topK(images, captions, { ...methods[0], k: 2, direction: 't2i' }));
await tryit('exact topK', () => engine.topK(images, captions, { ...methods[0], k: 2, direction: 't2i', precision: 'int8', exact: true }));
await tryit('scorePairs', () => engine.scorePairs(images, captions, { images: [0, 1], captions: [2, 3] }, methods[0]));
await tryit('wordTerms', () => engine.naafWordTerms(images, captions, methods[0]));
const config = { imgDim: 12, embedSize: 16, wordDim: 8, vocabSize: 20, textEncoder: 'basic', threshold: 0.1, lambdaSoftmax: 20 };
const model = engine.createModel(initialState(config, 3), config);
const B = 4, LB = 5;
const feats = { data: Float32Array.from({ length: B * R * 12 }, () => rnd()), shape: [B, R, 12] };
const ids = { ids: Int32Array.from({ length: B * LB }, () => Math.floor(rnd() * 20)), shape: [B, LB], lengths: [5, 4, 3, 2] };
await tryit('encodeImages', () => model.encodeImages(feats));
await tryit('encodeCaptions', () => model.encodeCaptions(ids));
for (const method of ['naaf', 'scan-t2i', 'scan-i2t']) {
  await tryit(`train ${method}`, async () => { const t = await engine.createTrainer(model, { method }); await t.step({ regionFeats: feats, tokenIds: ids }); });
}
engine.destroy();
device.destroy();
