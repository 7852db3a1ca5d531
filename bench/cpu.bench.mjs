// The backends on a CPU, against the fair CPU peer: NAAF's (and SCAN t2i's) similarity from
// inputs in memory to scores in memory, on the CPU backend (WASM SIMD, threads) and the WebGPU
// backend (here lavapipe, a software GPU), and the vectorised PyTorch peer on OpenBLAS
// (bench/peers/torch_peer.py) on the same inputs, in one run; medians, GFLOP/s of the
// word-region products, the ratios, how far each is from the others' scores, and OpenBLAS's own
// sgemm GFLOP/s measured by the peer in the same run (the CPU's practical limit). The GEMM part
// of the CPU backend is timed apart by CHAN with mean pooling, whose epilogue (each word's max
// over the regions, a mean) is under 2% of its products. With --topk (f30k): NAAF topK k 10,
// exact from int8 on WASM, against PyTorch's f32 similarity + topk.
// Usage: node bench/cpu.bench.mjs [--shape quick|f30k|demo] [--backend wasm,webgpu] [--peer torch]
//   [--methods naaf,scan-t2i] [--samples 5] [--threads N] [--topk] [--peer-mib 8] [--record]
//   --peer-mib: the peer's largest intermediate tensor (captions per chunk follow from it)
// Relaxed-SIMD FMA: run Node 20 with --experimental-wasm-relaxed-simd (the device line says which build runs).
// The peer: apt-get install -y python3-torch libopenblas0-pthread (see bench/peers/torch_peer.py).
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NaafEngine, encodeNpy, parseNpy } from '../dist/index.js';
import { SHAPES, makeInputs } from './shapes.mjs';
import { argValue, median } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);
const shapeName = argValue('shape', 'quick');
const shape = SHAPES[shapeName];
if (!shape) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}, got ${shapeName}`);
const backends = argValue('backend', 'wasm,webgpu').split(',');
const peer = argValue('peer', 'torch');
const methods = argValue('methods', 'naaf,scan-t2i').split(',');
const samples = Number(argValue('samples', shapeName === 'f30k' ? '1' : '5'));
const threads = argValue('threads', '');
const topk = args.includes('--topk');

const lines = [];
const log = (line) => { lines.push(line); console.log(line); };

const { N, M, R, D } = shape;
const { images, lengths, L, captions: captionRows } = makeInputs(shape);
const captions = captionRows();
const words = lengths.reduce((a, b) => a + b, 0);
const flop = 2 * words * N * R * D;
const OPTIONS = { naaf: { method: 'naaf', threshold: 0.2 }, 'scan-t2i': { method: 'scan-t2i' }, chan: { method: 'chan', pooling: 'mean' } };
const imageInput = { data: images, shape: [N, R, D] };
const captionInput = { data: captions, shape: [M, L, D], lengths };
log(`shape ${shapeName}: N=${N} images x M=${M} captions, R=${R}, D=${D}, L=${L}, words=${words}; word-region products ${(flop / 1e9).toFixed(1)} GFLOP`);

const fmt = (s) => (s >= 10 ? s.toFixed(1) : s.toFixed(3));
const rows = []; // [backend, method, median s, GFLOP/s]
const scores = {}; // method -> backend -> Float32Array

async function timeBackend(backend) {
  const engine = await NaafEngine.create({ backend, ...(threads && backend === 'wasm' ? { threads: Number(threads) } : {}) });
  try {
    log(`${backend}: ${engine.describe()}${engine.info.dawnFlags?.length ? `; Dawn flags ${engine.info.dawnFlags.join(' ')}` : ''}`);
    for (const method of [...methods, ...(backend === 'wasm' ? ['chan'] : [])]) {
      const options = OPTIONS[method];
      // One small call first: pipelines (WebGPU) and the worker threads (WASM) start here.
      await engine.similarity({ data: images.subarray(0, R * D), shape: [1, R, D] }, { data: captions.subarray(0, L * D), shape: [1, L, D], lengths: lengths.subarray(0, 1) }, options);
      const times = [];
      let sims;
      for (let i = 0; i < samples; i++) {
        const t = performance.now();
        sims = await engine.similarity(imageInput, captionInput, options);
        times.push((performance.now() - t) / 1000);
      }
      const s = median(times);
      (scores[method] ??= {})[backend] = sims;
      rows.push([backend, method === 'chan' ? 'GEMM part (CHAN, mean pooling)' : method, s, flop / s / 1e9, times]);
      log(`  ${method}: ${times.map(fmt).join(' / ')} s`);
    }
    if (topk && backend === 'wasm') {
      const t = performance.now();
      const top = await engine.topK(imageInput, captionInput, { ...OPTIONS.naaf, k: 10, direction: 't2i', precision: 'int8', exact: true });
      const s = (performance.now() - t) / 1000;
      rows.push([backend, 'naaf topK k 10, exact from int8', s, flop / s / 1e9, [s]]);
      scores.topk = { wasm: top };
      log(`  naaf topK k 10 exact from int8: ${fmt(s)} s (${top.exact.rescoredPerQuery.toFixed(1)} pairs re-scored in f32 per caption)`);
    }
  } finally {
    engine.destroy();
  }
}

function runPeer() {
  const dir = mkdtempSync(join(tmpdir(), 'naaf-peer-'));
  try {
    writeFileSync(join(dir, 'images.npy'), encodeNpy(images, [N, R, D]));
    writeFileSync(join(dir, 'captions.npy'), encodeNpy(captions, [M, L, D]));
    writeFileSync(join(dir, 'lengths.npy'), encodeNpy(Float32Array.from(lengths), [M])); // read back as integers
    for (const method of methods) {
      writeFileSync(join(dir, 'spec.json'), JSON.stringify({ ...OPTIONS[method], repeats: samples, k: topk && method === 'naaf' ? 10 : 0, tensorMiB: Number(argValue('peer-mib', '8')) }));
      const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296', MALLOC_TOP_PAD_: '1073741824' };
      delete env.OPENBLAS_CORETYPE; // set for old OpenBLAS builds; they slow a current one
      delete env.OPENBLAS_L2_SIZE;
      const run = spawnSync('/usr/bin/python3', [new URL('./peers/torch_peer.py', import.meta.url).pathname, 'time', dir, '--threads', threads || '2'], { encoding: 'utf8', env, maxBuffer: 1 << 24 });
      if (run.status !== 0) throw new Error(`the torch peer failed (install: apt-get install -y python3-torch libopenblas0-pthread): ${run.stderr.slice(-800)}`);
      const out = JSON.parse(run.stdout.trim().split('\n').pop());
      const s = median(out.seconds);
      if (method === methods[0]) log(`torch: PyTorch ${out.torch} on ${out.blas}, ${out.threads} threads; OpenBLAS sgemm in the same run ${out.sgemmGflops.toFixed(0)} GFLOP/s; captions per chunk ${out.chunk}`);
      log(`  ${method}: ${out.seconds.map(fmt).join(' / ')} s`);
      (scores[method] ??= {}).torch = parseNpy(readFileSync(join(dir, 'peer_sims.npy'))).data;
      rows.push(['torch', method, s, flop / s / 1e9, out.seconds]);
      if (out.topkSeconds.length) {
        const ts = out.topkSeconds[0];
        rows.push(['torch', 'naaf similarity + topk k 10 (f32)', ts, flop / ts / 1e9, out.topkSeconds]);
        const peerTop = parseNpy(readFileSync(join(dir, 'peer_topk.npy'))).data; // [k, M]
        const ours = scores.topk?.wasm;
        if (ours) {
          let same = 0;
          for (let m = 0; m < M; m++) {
            const a = new Set(Array.from({ length: 10 }, (_, j) => peerTop[j * M + m]));
            if (Array.from(ours.indices.subarray(m * 10, m * 10 + 10)).every((n) => a.has(n))) same++;
          }
          log(`  topK: ${same} of ${M} captions have the same top-10 set on WASM (exact from int8) and in PyTorch (f32)`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const backend of backends) await timeBackend(backend);
if (peer === 'torch') runPeer();

const time = (backend, method) => rows.find((r) => r[0] === backend && r[1] === method)?.[2];
log('');
log('| backend | what | median s | GFLOP/s | vs torch | vs webgpu |');
log('|---|---|---|---|---|---|');
for (const [backend, what, s, gflops] of rows) {
  const base = methods.includes(what) ? what : null;
  const vsTorch = base && time('torch', base) ? `${(s / time('torch', base)).toFixed(2)}x` : '-';
  const vsGpu = base && time('webgpu', base) ? `${(s / time('webgpu', base)).toFixed(2)}x` : '-';
  log(`| ${backend} | ${what} | ${fmt(s)} | ${gflops.toFixed(1)} | ${backend === 'torch' ? '-' : vsTorch} | ${backend === 'webgpu' ? '-' : vsGpu} |`);
}
for (const method of methods) {
  const by = scores[method] ?? {};
  const pairs = Object.keys(by).flatMap((a, i, all) => all.slice(i + 1).map((b) => [a, b]));
  for (const [a, b] of pairs) {
    let worst = 0;
    for (let i = 0; i < by[a].length; i++) worst = Math.max(worst, Math.abs(by[a][i] - by[b][i]));
    log(`- ${method}: max |${a} - ${b}| = ${worst.toExponential(1)}`);
  }
}
if (args.includes('--record')) {
  appendFileSync(new URL('./RESULTS.md', import.meta.url), `\n### cpu.bench ${shapeName} (${new Date().toISOString().slice(0, 10)}, \`node ${process.execArgv.join(' ')} bench/cpu.bench.mjs ${args.join(' ')}\`)\n\n${lines.map((l) => (l.startsWith('|') || l.startsWith('-') || l === '' ? l : `- ${l}`)).join('\n')}\n`);
}
