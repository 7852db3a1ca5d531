// A single-vector student of NAAF's text-to-image ranking (search round 2). Each image and each
// caption becomes one unit vector, so a coarse pass costs one cosine per image over a resident
// [N, 1, D] gallery instead of NAAF's every word against every region.
//   tower(rows) = normalize(W2 · Σ_rows relu(W1 · row + b1))
// The sum over rows comes before the normalisation on purpose: content a caption does not mention
// dilutes an image's vector, which is how NAAF ranks such images down and MaxSim cannot (a max
// never decreases when an image gains a region). The towers read the NAAF model's own region and
// word embeddings, so the student is a small head over the teacher's encoders.
import { writeSafetensors, readSafetensors } from '../io/safetensors.js';
import { seededRandom } from '../random.js';

/**
 * One tower's weights: w1 [hidden, inDim], b1 [hidden], w2 [outDim, pooled], row-major, where
 * pooled is hidden ('sum': Σ_rows relu(z)) or 2 hidden ('sum+max': that, then max_rows z, each
 * unit's best row, which lets a unit say whether any region holds a concept as MaxSim does).
 * normalize: whether the output is scaled to unit length (a cosine student) or left as it is (an
 * inner-product student, whose image norms can carry how much of an image a concept covers).
 */
export interface StudentTower {
  inDim: number;
  hidden: number;
  outDim: number;
  pool: StudentPool;
  normalize: boolean;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
}

export type StudentPool = 'sum' | 'sum+max';

/** The image tower, the text tower and the logit scale the distillation learned with them. */
export interface Student {
  image: StudentTower;
  text: StudentTower;
  scale: number;
}

/** Rows of items: data [count, rows, inDim], item i using its first lengths[i] rows (all when absent). */
export interface RowSets {
  data: Float32Array;
  shape: readonly [number, number, number];
  lengths?: ArrayLike<number>;
}

/** What a forward pass keeps for the backward. */
export interface TowerCache {
  pooled: Float32Array; // [count, pooledDim]
  norms: Float32Array; // [count], the output's norm before any normalisation
  /** Each row's hidden pre-activations [count, rows, hidden] (the relu mask of the backward). */
  z: Float32Array;
  /** 'sum+max': each unit's best row [count, hidden]. */
  argmax: Int32Array;
}

function positiveInteger(what: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${what}: expected a positive integer, got ${v}`);
  return v;
}

export const pooledDim = (t: Pick<StudentTower, 'hidden' | 'pool'>): number => (t.pool === 'sum+max' ? 2 * t.hidden : t.hidden);

export interface TowerShape {
  hidden?: number;
  outDim?: number;
  pool?: StudentPool;
  normalize?: boolean;
}

/** A tower with He-initialised W1, small positive b1 (so sums start away from relu's kink) and W2 ~ N(0, 1/pooled). */
export function initTower(inDim: number, shape: TowerShape, seed: number): StudentTower {
  const hidden = positiveInteger('initTower: hidden', shape.hidden ?? 256);
  const outDim = positiveInteger('initTower: outDim', shape.outDim ?? 64);
  positiveInteger('initTower: inDim', inDim);
  const pool = shape.pool ?? 'sum';
  if (pool !== 'sum' && pool !== 'sum+max') throw new Error(`initTower: pool: expected "sum" or "sum+max", got ${JSON.stringify(pool)}`);
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const P = pooledDim({ hidden, pool });
  const w1 = Float32Array.from({ length: hidden * inDim }, () => gauss() * Math.sqrt(2 / inDim));
  const b1 = new Float32Array(hidden).fill(0.01);
  const w2 = Float32Array.from({ length: outDim * P }, () => gauss() / Math.sqrt(P));
  return { inDim, hidden, outDim, pool, normalize: shape.normalize ?? true, w1, b1, w2 };
}

/** A student for NAAF embeddings of size `embedSize`: both towers of one shape. */
export function initStudent(embedSize: number, options: TowerShape & { seed?: number } = {}): Student {
  const seed = options.seed ?? 0;
  return { image: initTower(embedSize, options, seed * 2 + 1), text: initTower(embedSize, options, seed * 2 + 2), scale: options.normalize === false ? 1 : 10 };
}

function checkSets(what: string, tower: StudentTower, sets: RowSets): { count: number; rows: number } {
  const [count, rows, dim] = sets.shape;
  if (dim !== tower.inDim) throw new Error(`${what}: shape[2] = ${dim} must equal the tower's inDim ${tower.inDim}`);
  if (sets.data.length !== count * rows * dim) throw new Error(`${what}: data has ${sets.data.length} values, shape ${JSON.stringify(sets.shape)} needs ${count * rows * dim}`);
  if (sets.lengths !== undefined) {
    if (sets.lengths.length !== count) throw new Error(`${what}: lengths has ${sets.lengths.length} entries, expected ${count}`);
    for (let i = 0; i < count; i++) {
      const n = sets.lengths[i]!;
      if (!Number.isInteger(n) || n < 1 || n > rows) throw new Error(`${what}: lengths[${i}] = ${n} is outside [1, ${rows}]`);
    }
  }
  return { count, rows };
}

/**
 * The vectors [count, outDim] of `sets` under `tower` (unit vectors if it normalizes); with
 * `cache` (towerCache), what towerBackward needs. A NaN in the input stays visible as a NaN output.
 */
export function embedTower(tower: StudentTower, sets: RowSets, cache?: TowerCache): Float32Array {
  const { count, rows } = checkSets('embedTower', tower, sets);
  const { inDim: E, hidden: H, outDim: D, w1, b1, w2 } = tower;
  const P = pooledDim(tower);
  const withMax = tower.pool === 'sum+max';
  const out = new Float32Array(count * D);
  const pooled = new Float64Array(P);
  const z = new Float64Array(H);
  for (let i = 0; i < count; i++) {
    pooled.fill(0);
    if (withMax) pooled.fill(-Infinity, H);
    const n = sets.lengths?.[i] ?? rows;
    for (let r = 0; r < n; r++) {
      const x = (i * rows + r) * E;
      for (let h = 0; h < H; h++) {
        let acc = b1[h]!;
        const w = h * E;
        for (let e = 0; e < E; e++) acc += w1[w + e]! * sets.data[x + e]!;
        z[h] = acc;
      }
      for (let h = 0; h < H; h++) if (z[h]! > 0) pooled[h] += z[h]!;
      if (withMax) {
        for (let h = 0; h < H; h++) {
          // A NaN row must not be skipped by the comparison: it makes the unit NaN.
          if (z[h]! > pooled[H + h]! || Number.isNaN(z[h]!)) {
            pooled[H + h] = z[h]!;
            if (cache) cache.argmax[i * H + h] = r;
          }
        }
      }
      if (cache) cache.z.set(z, (i * rows + r) * H);
    }
    let norm = 0;
    for (let d = 0; d < D; d++) {
      let acc = 0;
      const w = d * P;
      for (let h = 0; h < P; h++) acc += w2[w + h]! * pooled[h]!;
      out[i * D + d] = acc;
      norm += acc * acc;
    }
    norm = Math.sqrt(norm);
    if (tower.normalize) {
      // An all-zero vector (every unit dead) stays zero rather than dividing by zero: it scores 0.
      const inv = norm > 0 ? 1 / norm : 0;
      for (let d = 0; d < D; d++) out[i * D + d] *= inv;
    }
    if (cache) {
      for (let h = 0; h < P; h++) cache.pooled[i * P + h] = pooled[h]!;
      cache.norms[i] = norm;
    }
  }
  return out;
}

export function towerCache(tower: StudentTower, count: number, rows: number): TowerCache {
  return {
    pooled: new Float32Array(count * pooledDim(tower)), norms: new Float32Array(count),
    z: new Float32Array(count * rows * tower.hidden), argmax: new Int32Array(tower.pool === 'sum+max' ? count * tower.hidden : 0),
  };
}

/** Gradients of one tower, shaped as its weights. */
export interface TowerGrads {
  w1: Float64Array;
  b1: Float64Array;
  w2: Float64Array;
}

export function zeroGrads(tower: StudentTower): TowerGrads {
  return { w1: new Float64Array(tower.w1.length), b1: new Float64Array(tower.b1.length), w2: new Float64Array(tower.w2.length) };
}

/**
 * Accumulates into `grads` the gradient of a loss given dL/d(output) `dOut` [count, outDim]
 * for the items embedTower saw (`outputs` its output, `cache` its cache).
 */
export function towerBackward(tower: StudentTower, sets: RowSets, outputs: Float32Array, cache: TowerCache, dOut: Float64Array, grads: TowerGrads): void {
  const { count, rows } = checkSets('towerBackward', tower, sets);
  const { inDim: E, hidden: H, outDim: D, w2 } = tower;
  const P = pooledDim(tower);
  const withMax = tower.pool === 'sum+max';
  const du = new Float64Array(D);
  const dPooled = new Float64Array(P);
  for (let i = 0; i < count; i++) {
    const norm = cache.norms[i]!;
    if (tower.normalize && norm === 0) continue;
    let any = false;
    if (tower.normalize) {
      // Through the normalisation: du = (dû - û (û · dû)) / |u|.
      let dot = 0;
      for (let d = 0; d < D; d++) dot += outputs[i * D + d]! * dOut[i * D + d]!;
      for (let d = 0; d < D; d++) du[d] = (dOut[i * D + d]! - outputs[i * D + d]! * dot) / norm;
    } else {
      for (let d = 0; d < D; d++) du[d] = dOut[i * D + d]!;
    }
    for (let d = 0; d < D; d++) if (du[d] !== 0) any = true;
    if (!any) continue;
    dPooled.fill(0);
    for (let d = 0; d < D; d++) {
      const g = du[d]!;
      const w = d * P;
      for (let h = 0; h < P; h++) {
        grads.w2[w + h] += g * cache.pooled[i * P + h]!;
        dPooled[h] += g * w2[w + h]!;
      }
    }
    // Each row's active units pass the sum's gradient on to W1 and b1; each unit's best row, the max's.
    const n = sets.lengths?.[i] ?? rows;
    for (let r = 0; r < n; r++) {
      const x = (i * rows + r) * E;
      const zr = (i * rows + r) * H;
      for (let h = 0; h < H; h++) {
        let g = cache.z[zr + h]! > 0 ? dPooled[h]! : 0;
        if (withMax && cache.argmax[i * H + h] === r) g += dPooled[H + h]!;
        if (g === 0) continue;
        const w = h * E;
        grads.b1[h] += g;
        for (let e = 0; e < E; e++) grads.w1[w + e] += g * sets.data[x + e]!;
      }
    }
  }
}

/** The student as one .safetensors file (f32 tensors; sizes and scale in the metadata). */
export function studentToSafetensors(student: Student, metadata: Record<string, string> = {}): Uint8Array {
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const side of ['image', 'text'] as const) {
    const t = student[side];
    tensors[`${side}.w1`] = { shape: [t.hidden, t.inDim], data: t.w1 };
    tensors[`${side}.b1`] = { shape: [t.hidden], data: t.b1 };
    tensors[`${side}.w2`] = { shape: [t.outDim, pooledDim(t)], data: t.w2 };
  }
  const towers = JSON.stringify({ image: { pool: student.image.pool, normalize: student.image.normalize }, text: { pool: student.text.pool, normalize: student.text.normalize } });
  return writeSafetensors(tensors, { ...metadata, format: 'naaf-student/1', scale: String(student.scale), towers });
}

/** The student studentToSafetensors wrote, with its metadata. */
export function studentFromSafetensors(bytes: Uint8Array, label = 'student'): { student: Student; metadata: Record<string, string> } {
  const file = readSafetensors(bytes, label);
  const metadata = file.metadata ?? {};
  if (metadata.format !== 'naaf-student/1') throw new Error(`${label}: not a student file (metadata format ${JSON.stringify(metadata.format)}, expected "naaf-student/1")`);
  const tensor = (name: string, dims: number) => {
    const t = file.tensors[name];
    if (!t) throw new Error(`${label}: tensor ${name} is missing`);
    if (t.shape.length !== dims) throw new Error(`${label}: ${name} has shape ${JSON.stringify(t.shape)}, expected ${dims} dimensions`);
    return t;
  };
  let kinds: Record<string, { pool: StudentPool; normalize: boolean }>;
  try {
    kinds = JSON.parse(metadata.towers ?? '');
  } catch {
    throw new Error(`${label}: metadata towers ${JSON.stringify(metadata.towers)} is not JSON`);
  }
  const tower = (side: 'image' | 'text'): StudentTower => {
    const kind = kinds[side];
    if (!kind || (kind.pool !== 'sum' && kind.pool !== 'sum+max') || typeof kind.normalize !== 'boolean') throw new Error(`${label}: metadata towers.${side} ${JSON.stringify(kind)} needs pool "sum" or "sum+max" and normalize true or false`);
    const w1 = tensor(`${side}.w1`, 2);
    const b1 = tensor(`${side}.b1`, 1);
    const w2 = tensor(`${side}.w2`, 2);
    const [hidden, inDim] = w1.shape as [number, number];
    const outDim = w2.shape[0]!;
    if (b1.shape[0] !== hidden || w2.shape[1] !== pooledDim({ hidden, pool: kind.pool })) throw new Error(`${label}: ${side} tower shapes disagree: w1 ${JSON.stringify(w1.shape)}, b1 ${JSON.stringify(b1.shape)}, w2 ${JSON.stringify(w2.shape)} (pool ${kind.pool})`);
    return { inDim, hidden, outDim, pool: kind.pool, normalize: kind.normalize, w1: w1.data, b1: b1.data, w2: w2.data };
  };
  const image = tower('image');
  const text = tower('text');
  if (image.inDim !== text.inDim || image.outDim !== text.outDim) throw new Error(`${label}: the image tower (${image.inDim} -> ${image.outDim}) and the text tower (${text.inDim} -> ${text.outDim}) disagree`);
  const scale = Number(metadata.scale);
  if (!Number.isFinite(scale) || scale <= 0) throw new Error(`${label}: metadata scale ${JSON.stringify(metadata.scale)} is not a positive number`);
  return { student: { image, text, scale }, metadata };
}

/**
 * The k rows of `vectors` [N, D] with the largest inner product with `query` [D], best first
 * (ties: the lower index first), and their scores. A single-vector coarse pass is N x D
 * multiply-adds (6.4 M at 100k x 64): a CPU scan of 26 MB, cheaper than any GPU dispatch's fixed
 * cost on a software driver, and it leaves the GPU to the exact stage.
 */
export function vectorTopK(vectors: Float32Array, D: number, query: ArrayLike<number>, k: number): { indices: Int32Array; scores: Float32Array } {
  if (!Number.isSafeInteger(D) || D < 1 || vectors.length % D !== 0) throw new Error(`vectorTopK: vectors has ${vectors.length} values, not a whole number of rows of D = ${D}`);
  if (query.length !== D) throw new Error(`vectorTopK: query has ${query.length} values, expected D = ${D}`);
  const N = vectors.length / D;
  if (!Number.isSafeInteger(k) || k < 1) throw new Error(`vectorTopK: k must be a positive integer, got ${k}`);
  const K = Math.min(k, N);
  const scores = new Float32Array(N);
  // Four partial sums a row (a third faster in V8 than one running sum), then the tail.
  const D4 = D - (D % 4);
  for (let n = 0; n < N; n++) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const row = n * D;
    for (let d = 0; d < D4; d += 4) {
      a0 += vectors[row + d]! * query[d]!;
      a1 += vectors[row + d + 1]! * query[d + 1]!;
      a2 += vectors[row + d + 2]! * query[d + 2]!;
      a3 += vectors[row + d + 3]! * query[d + 3]!;
    }
    for (let d = D4; d < D; d++) a0 += vectors[row + d]! * query[d]!;
    scores[n] = (a0 + a1) + (a2 + a3);
  }
  // The K-th best score by selection on a copy, then the rows at or above it, sorted.
  const threshold = kthLargest(scores.slice(), K);
  const picked: number[] = [];
  for (let n = 0; n < N; n++) if (scores[n]! >= threshold) picked.push(n);
  picked.sort((a, b) => scores[b]! - scores[a]! || a - b);
  const indices = Int32Array.from(picked.slice(0, K));
  return { indices, scores: Float32Array.from(indices, (n) => scores[n]!) };
}

/** The k-th largest value of `a` (reordered in place): Hoare's quickselect. NaN sorts last. */
function kthLargest(a: Float32Array, k: number): number {
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!)) a[i] = -Infinity;
  let lo = 0, hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j--; }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target]!;
  }
  return a[target]!;
}
