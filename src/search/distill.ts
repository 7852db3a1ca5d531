// Distils NAAF's text-to-image ranking into the single-vector student (src/search/student.ts), as
// ColBERTv2 distils its cross-encoder: a listwise KL between softmax(NAAF score / temperature) and
// softmax(scale x student cosine) over candidate lists built from NAAF's own hard negatives.
// Each step takes a batch of captions; its candidate list is the union of every caption's NAAF
// top-`top` and `random` other images, and every caption is scored against the whole union (the
// teacher's full score matrix is at hand), so each caption also sees the others' hard negatives.
import { embedTower, initStudent, towerBackward, towerCache, vectorTopK, zeroGrads, type RowSets, type Student, type StudentTower, type TowerGrads, type TowerShape } from './student.js';
import { seededRandom } from '../random.js';

export interface DistillData {
  /** The distillation gallery's region embeddings (NAAF's image encoder), [G, R, E]. */
  images: RowSets;
  /** The distillation captions' word embeddings (NAAF's text encoder), [M, L, E] with lengths. */
  captions: RowSets;
  /** NAAF's scores, teacher[n * M + m]: image n with caption m (gallery.similarity's layout). */
  teacher: Float32Array;
}

export interface DistillOptions extends TowerShape {
  steps?: number;
  /** Captions per step. */
  batch?: number;
  /** Each caption's NAAF top this many images join the step's candidates. */
  top?: number;
  /** Random images added to every step's candidates. */
  random?: number;
  /** The teacher's softmax temperature, in NAAF score units. */
  temperature?: number;
  lr?: number;
  seed?: number;
  /** Captions held out of training to measure containment on (their indices into data.captions). */
  devCaptions?: readonly number[];
  /** Measure the dev containment every this many steps (and at the end). */
  evalEvery?: number;
  onEval?: (e: DistillEval) => void;
  /** Continue from this student (its towers set the shape; copied, not changed) instead of a fresh one. */
  init?: Student;
}

export interface DistillEval {
  step: number;
  loss: number;
  /** Share of dev captions whose NAAF top-10 lies inside the student's top-K, per K of `ks`. */
  containment: Record<number, number>;
}

export const DISTILL_DEFAULTS = { hidden: 256, outDim: 64, steps: 400, batch: 64, top: 16, random: 512, temperature: 0.01, lr: 2e-3, seed: 0, evalEvery: 100, pool: 'sum', normalize: true } as const;

function check(what: string, ok: boolean, message: string): void {
  if (!ok) throw new Error(`distillStudent: ${what}: ${message}`);
}

class Adam {
  private m: Float64Array[];
  private v: Float64Array[];
  private t = 0;
  constructor(private params: Float32Array[], private lr: number, private b1 = 0.9, private b2 = 0.999, private eps = 1e-8) {
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
  }
  step(grads: Float64Array[]): void {
    this.t++;
    const c1 = 1 - this.b1 ** this.t;
    const c2 = 1 - this.b2 ** this.t;
    this.params.forEach((p, i) => {
      const g = grads[i]!, m = this.m[i]!, v = this.v[i]!;
      for (let j = 0; j < p.length; j++) {
        m[j] = this.b1 * m[j]! + (1 - this.b1) * g[j]!;
        v[j] = this.b2 * v[j]! + (1 - this.b2) * g[j]! * g[j]!;
        p[j] -= (this.lr * (m[j]! / c1)) / (Math.sqrt(v[j]! / c2) + this.eps);
      }
    });
  }
}

/** A copy of `student` to train on, checked to read `inDim`-wide embeddings. */
function copyStudent(student: Student, inDim: number): Student {
  const tower = (t: StudentTower, side: string) => {
    check(`init.${side}`, t.inDim === inDim, `reads ${t.inDim}-wide embeddings, the data is ${inDim} wide`);
    return { ...t, w1: t.w1.slice(), b1: t.b1.slice(), w2: t.w2.slice() };
  };
  check('init', student.image.outDim === student.text.outDim && student.image.normalize === student.text.normalize, 'its towers differ in outDim or normalisation');
  return { image: tower(student.image, 'image'), text: tower(student.text, 'text'), scale: student.scale };
}

/** Items `ids` of `sets` as their own RowSets (copies). */
export function pickRows(sets: RowSets, ids: ArrayLike<number>): RowSets {
  const [, rows, dim] = sets.shape;
  const data = new Float32Array(ids.length * rows * dim);
  for (let i = 0; i < ids.length; i++) data.set(sets.data.subarray(ids[i]! * rows * dim, (ids[i]! + 1) * rows * dim), i * rows * dim);
  const lengths = sets.lengths ? Array.from(ids, (id) => sets.lengths![id]!) : undefined;
  return { data, shape: [ids.length, rows, dim], lengths };
}

/**
 * The listwise loss of one step and its gradients with respect to the unit vectors and the scale:
 * captions [B, D] against candidates [C, D], teacher logits (already divided by the temperature).
 */
export function listwiseKL(captions: Float32Array, candidates: Float32Array, D: number, teacherLogits: Float64Array, scale: number):
  { loss: number; dCaptions: Float64Array; dCandidates: Float64Array; dScale: number } {
  const B = captions.length / D;
  const C = candidates.length / D;
  const dCaptions = new Float64Array(B * D);
  const dCandidates = new Float64Array(C * D);
  const cos = new Float64Array(C);
  const p = new Float64Array(C);
  let loss = 0;
  let dScale = 0;
  for (let b = 0; b < B; b++) {
    let maxS = -Infinity, maxT = -Infinity;
    for (let c = 0; c < C; c++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += captions[b * D + d]! * candidates[c * D + d]!;
      cos[c] = dot;
      maxS = Math.max(maxS, scale * dot);
      maxT = Math.max(maxT, teacherLogits[b * C + c]!);
    }
    let zs = 0, zt = 0;
    for (let c = 0; c < C; c++) {
      zs += Math.exp(scale * cos[c]! - maxS);
      p[c] = Math.exp(teacherLogits[b * C + c]! - maxT);
      zt += p[c]!;
    }
    const logZs = Math.log(zs) + maxS;
    for (let c = 0; c < C; c++) {
      const pc = p[c]! / zt;
      const logQ = scale * cos[c]! - logZs;
      if (pc > 0) loss += pc * (Math.log(pc) - logQ);
      // dKL/dlogit_c = q_c - p_c, averaged over the batch.
      const g = (Math.exp(logQ) - pc) / B;
      if (g === 0) continue;
      dScale += g * cos[c]!;
      const gs = g * scale;
      for (let d = 0; d < D; d++) {
        dCaptions[b * D + d] += gs * candidates[c * D + d]!;
        dCandidates[c * D + d] += gs * captions[b * D + d]!;
      }
    }
  }
  return { loss: loss / B, dCaptions, dCandidates, dScale };
}

/** Caption m's k best images by NAAF (ties: the lower index first). */
function teacherTop(data: DistillData, m: number, k: number): number[] {
  const G = data.images.shape[0];
  const M = data.captions.shape[0];
  return Array.from({ length: G }, (_, n) => n).sort((a, b) => data.teacher[b * M + m]! - data.teacher[a * M + m]! || a - b).slice(0, k);
}

/** The share of `captions` whose teacher top-10 lies inside the student's top-K, for each K of `ks`. */
export function containment(student: Student, data: DistillData, captions: readonly number[], ks: readonly number[]): Record<number, number> {
  const D = student.image.outDim;
  const images = embedTower(student.image, data.images);
  const texts = embedTower(student.text, pickRows(data.captions, captions));
  const hits: Record<number, number> = Object.fromEntries(ks.map((k) => [k, 0]));
  captions.forEach((m, i) => {
    const teacher = teacherTop(data, m, 10);
    const order = Array.from(vectorTopK(images, D, texts.subarray(i * D, (i + 1) * D), Math.max(...ks)).indices);
    for (const k of ks) {
      const top = new Set(order.slice(0, k));
      if (teacher.every((n) => top.has(n))) hits[k]++;
    }
  });
  for (const k of ks) hits[k] /= Math.max(1, captions.length);
  return hits;
}

/** A student distilled from `data.teacher`, and its dev containment along the way. */
export function distillStudent(data: DistillData, options: DistillOptions = {}): { student: Student; evals: DistillEval[] } {
  const o = { ...DISTILL_DEFAULTS, ...options };
  const [G, , E] = data.images.shape;
  const [M, , E2] = data.captions.shape;
  check('images', G >= 2, `need at least 2 images, got ${G}`);
  check('captions', M >= 1, `need at least one caption, got ${M}`);
  check('captions.shape[2]', E2 === E, `${E2} must equal images.shape[2] = ${E}`);
  check('teacher', data.teacher.length === G * M, `has ${data.teacher.length} scores, expected images x captions = ${G * M}`);
  for (let i = 0; i < data.teacher.length; i++) check('teacher', Number.isFinite(data.teacher[i]!), `score ${i} is ${data.teacher[i]}`);
  for (const [name, v] of [['steps', o.steps], ['batch', o.batch], ['top', o.top], ['evalEvery', o.evalEvery], ['hidden', o.hidden], ['outDim', o.outDim]] as const) {
    check(name, Number.isSafeInteger(v) && v >= 1, `expected a positive integer, got ${v}`);
  }
  check('random', Number.isSafeInteger(o.random) && o.random >= 0, `expected a non-negative integer, got ${o.random}`);
  check('temperature', o.temperature > 0 && Number.isFinite(o.temperature), `expected a positive number, got ${o.temperature}`);
  check('lr', o.lr > 0 && Number.isFinite(o.lr), `expected a positive number, got ${o.lr}`);
  const dev = new Set(o.devCaptions ?? []);
  for (const m of dev) check('devCaptions', Number.isInteger(m) && m >= 0 && m < M, `index ${m} is outside [0, ${M})`);
  const train = Array.from({ length: M }, (_, m) => m).filter((m) => !dev.has(m));
  check('devCaptions', train.length > 0, 'hold out fewer captions than there are');

  const student = o.init ? copyStudent(o.init, E) : initStudent(E, { hidden: o.hidden, outDim: o.outDim, pool: o.pool, normalize: o.normalize, seed: o.seed });
  const D = student.image.outDim;
  const normalize = student.image.normalize;
  const rand = seededRandom(o.seed ^ 0x5eed);
  // Each training caption's NAAF top images, once.
  const tops = new Map(train.map((m) => [m, teacherTop(data, m, o.top)]));
  const towers: StudentTower[] = [student.image, student.text];
  const params = towers.flatMap((t) => [t.w1, t.b1, t.w2]);
  const logScale = new Float32Array([Math.log(student.scale)]);
  const adam = new Adam([...params, logScale], o.lr);
  student.scale = Math.exp(logScale[0]!); // the scale the log parameter holds, as after every step
  const evals: DistillEval[] = [];
  let lossSum = 0, lossCount = 0;
  for (let step = 1; step <= o.steps; step++) {
    const batch = Array.from({ length: Math.min(o.batch, train.length) }, () => train[Math.floor(rand() * train.length)]!);
    const union = new Set<number>();
    for (const m of batch) for (const n of tops.get(m)!) union.add(n);
    for (let i = 0; i < o.random && union.size < G; i++) union.add(Math.floor(rand() * G));
    const ids = [...union];
    const C = ids.length;
    const imageSets = pickRows(data.images, ids);
    const textSets = pickRows(data.captions, batch);
    const imageCache = towerCache(student.image, C, data.images.shape[1]);
    const textCache = towerCache(student.text, batch.length, data.captions.shape[1]);
    const u = embedTower(student.image, imageSets, imageCache);
    const v = embedTower(student.text, textSets, textCache);
    const logits = new Float64Array(batch.length * C);
    batch.forEach((m, b) => ids.forEach((n, c) => { logits[b * C + c] = data.teacher[n * M + m]! / o.temperature; }));
    const { loss, dCaptions, dCandidates, dScale } = listwiseKL(v, u, D, logits, student.scale);
    lossSum += loss; lossCount++;
    const grads: TowerGrads[] = [zeroGrads(student.image), zeroGrads(student.text)];
    towerBackward(student.image, imageSets, u, imageCache, dCandidates, grads[0]!);
    towerBackward(student.text, textSets, v, textCache, dCaptions, grads[1]!);
    // An inner-product student's scale is its vectors' own: only a cosine student learns one.
    adam.step([...grads.flatMap((g) => [g.w1, g.b1, g.w2]), new Float64Array([normalize ? dScale * student.scale : 0])]);
    student.scale = Math.exp(logScale[0]!);
    if (dev.size > 0 && (step % o.evalEvery === 0 || step === o.steps)) {
      const e = { step, loss: lossSum / lossCount, containment: containment(student, data, [...dev], [10, 20, 50, 100]) };
      lossSum = 0; lossCount = 0;
      evals.push(e);
      o.onEval?.(e);
    }
  }
  return { student, evals };
}
