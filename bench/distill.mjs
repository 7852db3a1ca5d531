// Distils the scenes NAAF model's text-to-image ranking into a single-vector student
// (src/search/distill.ts) over a distillation set: --images train-split scenes images (never the
// test split a search gallery is drawn from) and --per-image of their captions. NAAF's scores of
// every caption against every image are the teacher (gallery.similarity over the resident set).
// Writes the student to --student (atomically) and prints the dev containment as it trains.
// Usage: node bench/distill.mjs [--images 4000] [--per-image 2] [--steps 400] [--hidden 256] [--dim 64]
//   [--pool sum|sum+max] [--normalize true|false] [--temperature 0.01] [--lr 2e-3] [--checkpoint data/runs/naaf/model_best.safetensors] [--data data/scenes]
//   [--out bench/out/search] [--student bench/out/search/student.safetensors] [--init FILE (continue from that student)]
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { distillStudent, studentFromSafetensors, studentToSafetensors } from '../dist/search.js';
import { encodeCaptions, encodeGallery, galleryText, scenesSplit, searchBenchEngine } from './gallery.mjs';
import { argValue as value, log } from './util.mjs';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const IMAGES = Number(value('images', '4000'));
const PER_IMAGE = Number(value('per-image', '2'));
const CHECKPOINT = value('checkpoint', 'data/runs/naaf/model_best.safetensors');
const DATA = value('data', 'data/scenes');
const OUT = value('out', 'bench/out/search');
const STUDENT = value('student', join(OUT, 'student.safetensors'));
const options = {
  steps: Number(value('steps', '400')), hidden: Number(value('hidden', '256')), outDim: Number(value('dim', '64')),
  temperature: Number(value('temperature', '0.01')), lr: Number(value('lr', '2e-3')), batch: Number(value('batch', '64')),
  pool: value('pool', 'sum'), normalize: value('normalize', 'true') === 'true',
  top: Number(value('top', '16')), random: Number(value('random', '512')), seed: Number(value('seed', '0')),
};

// --init: continue from that student (its towers' shape replaces --hidden, --dim, --pool, --normalize).
const INIT = value('init', '') ? studentFromSafetensors(readFileSync(value('init', '')), value('init', '')).student : null;
if (INIT) Object.assign(options, { hidden: INIT.image.hidden, outDim: INIT.image.outDim, pool: INIT.image.pool, normalize: INIT.image.normalize });
const engine = await searchBenchEngine(CHECKPOINT, log);
const dir = scenesSplit(DATA, join(OUT, `distill-${IMAGES}`), 'train', IMAGES, log);
const { vocab, captions } = galleryText(dir, 'train');
const texts = Array.from({ length: IMAGES * PER_IMAGE }, (_, i) => captions[Math.floor(i / PER_IMAGE) * 5 + (i % PER_IMAGE)]);
const model = await engine.loadModel(CHECKPOINT);
const naaf = { method: 'naaf', threshold: model.config.threshold ?? 0, lambdaSoftmax: model.config.lambdaSoftmax };
let t = performance.now();
const images = await encodeGallery(model, dir, 'train');
const { words, seqs } = await encodeCaptions(model, vocab, texts);
model.destroy();
log(`encoded ${IMAGES} images and ${texts.length} captions in ${((performance.now() - t) / 1000).toFixed(1)} s`);

// The teacher matrix, cached beside the set (it depends on the checkpoint, so keyed by its size and time).
const stamp = (() => { const s = readFileSync(CHECKPOINT); return `${s.length}-${s.subarray(s.length - 64).reduce((a, b) => (a * 31 + b) >>> 0, 7)}`; })();
const cache = join(dir, `teacher-${PER_IMAGE}-${stamp}.f32`);
let teacher;
if (existsSync(cache)) {
  teacher = new Float32Array(readFileSync(cache).buffer.slice(0));
  log(`teacher scores from ${cache}`);
} else {
  t = performance.now();
  const gallery = await engine.createGallery(images);
  teacher = await gallery.similarity(words, naaf);
  gallery.destroy();
  writeFileSync(cache, Buffer.from(teacher.buffer));
  log(`teacher: NAAF over ${IMAGES} x ${texts.length} pairs in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
engine.destroy();

// Dev: the captions of the last 10% of images (held-out images' captions, all of their columns).
const devImages = Math.max(1, Math.floor(IMAGES / 10));
const devCaptions = Array.from({ length: devImages * PER_IMAGE }, (_, i) => (IMAGES - devImages) * PER_IMAGE + i);
t = performance.now();
const { student, evals } = distillStudent(
  { images, captions: { data: words.data, shape: words.shape, lengths: seqs.map((s) => s.length) }, teacher },
  { ...options, devCaptions, ...(INIT ? { init: INIT } : {}), evalEvery: Number(value('eval-every', '100')),
    onEval: (e) => log(`step ${e.step}: loss ${e.loss.toFixed(4)}, dev captions with NAAF's top-10 inside the student's top-10/20/50/100: ${Object.values(e.containment).map((c) => `${(100 * c).toFixed(0)}%`).join(' / ')}`) },
);
log(`distilled in ${((performance.now() - t) / 1000).toFixed(0)} s (scale ${student.scale.toFixed(2)})`);
mkdirSync(dirname(STUDENT), { recursive: true });
writeFileSync(`${STUDENT}.tmp`, studentToSafetensors(student, { teacher: CHECKPOINT, images: String(IMAGES), options: JSON.stringify({ ...options, init: value('init', '') || undefined }), dev: JSON.stringify(evals.at(-1)) }));
renameSync(`${STUDENT}.tmp`, STUDENT);
log(`student written to ${STUDENT}`);
