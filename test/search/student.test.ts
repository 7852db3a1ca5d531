// The single-vector student (src/search/student.ts) and its distillation (src/search/distill.ts):
// gradients against central finite differences, the row masks, the file format, bad arguments,
// and a distillation that learns a teacher's ranking it could not know at the start.
import { describe, expect, it } from 'vitest';
import { containment, distillStudent, listwiseKL } from '../../src/search/distill.js';
import {
  embedTower, initStudent, initTower, studentFromSafetensors, studentToSafetensors, towerBackward, towerCache, vectorTopK, zeroGrads,
  type RowSets, type StudentTower,
} from '../../src/search/student.js';
import { seededRandom } from '../../src/random.js';

function randomSets(count: number, rows: number, dim: number, seed: number, lengths?: number[]): RowSets {
  const rand = seededRandom(seed);
  return { data: Float32Array.from({ length: count * rows * dim }, () => rand() * 2 - 0.5), shape: [count, rows, dim], lengths };
}

/** sum(dOut * embed(sets)) in float64: the scalar whose gradient towerBackward gives. */
function projected(tower: StudentTower, sets: RowSets, dOut: Float64Array): number {
  const u = embedTower(tower, sets);
  let s = 0;
  for (let i = 0; i < u.length; i++) s += u[i]! * dOut[i]!;
  return s;
}

describe.each([
  { pool: 'sum' as const, normalize: true },
  { pool: 'sum+max' as const, normalize: false },
  { pool: 'sum+max' as const, normalize: true },
])('student tower (pool $pool, normalize $normalize)', ({ pool, normalize }) => {
  const tower = initTower(5, { hidden: 7, outDim: 4, pool, normalize }, 3);
  const sets = randomSets(3, 3, 5, 9, [2, 3, 1]);

  it('gives unit vectors when it normalizes, ignores rows past each length, and zero for a tower whose units are all off', () => {
    const u = embedTower(tower, sets);
    for (let i = 0; i < 3; i++) if (normalize) expect(Math.hypot(...u.subarray(i * 4, i * 4 + 4))).toBeCloseTo(1, 6);
    const changed = { ...sets, data: sets.data.slice() };
    changed.data.fill(99, 2 * 5, 3 * 5); // item 0's third row, past its length 2
    changed.data.fill(-99, (2 * 3 + 1) * 5, (2 * 3 + 3) * 5); // item 2's rows 1-2, past its length 1
    expect(Array.from(embedTower(tower, changed))).toEqual(Array.from(u));
    if (pool === 'sum') {
      const dead = { ...tower, b1: new Float32Array(7).fill(-1e6) };
      expect(Array.from(embedTower(dead, sets))).toEqual(new Array(12).fill(0));
    }
  });

  it('backward matches central finite differences for w1, b1 and w2', () => {
    const rand = seededRandom(5);
    const dOut = Float64Array.from({ length: 12 }, () => rand() - 0.5);
    const cache = towerCache(tower, 3, 3);
    const units = embedTower(tower, sets, cache);
    const grads = zeroGrads(tower);
    towerBackward(tower, sets, units, cache, dOut, grads);
    const eps = 1e-3;
    let checked = 0;
    for (const name of ['w1', 'b1', 'w2'] as const) {
      const w = tower[name];
      for (let j = 0; j < w.length; j += name === 'w1' ? 3 : 1) {
        const keep = w[j]!;
        w[j] = keep + eps;
        const up = projected(tower, sets, dOut);
        w[j] = keep - eps;
        const down = projected(tower, sets, dOut);
        w[j] = keep;
        const numeric = (up - down) / (2 * eps);
        expect(Math.abs(grads[name][j]! - numeric), `${name}[${j}]: ${grads[name][j]} vs ${numeric}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(grads.w1.some((g) => g !== 0) && grads.w2.some((g) => g !== 0)).toBe(true);
  });

  it('rejects bad shapes and lengths, naming them', () => {
    expect(() => embedTower(tower, randomSets(2, 3, 6, 1))).toThrow('shape[2] = 6 must equal the tower\'s inDim 5');
    expect(() => embedTower(tower, { data: new Float32Array(7), shape: [1, 3, 5] })).toThrow('data has 7 values, shape [1,3,5] needs 15');
    expect(() => embedTower(tower, randomSets(2, 3, 5, 1, [1, 4]))).toThrow('lengths[1] = 4 is outside [1, 3]');
    expect(() => embedTower(tower, randomSets(2, 3, 5, 1, [1]))).toThrow('lengths has 1 entries, expected 2');
    expect(() => initTower(0, {}, 0)).toThrow('initTower: inDim: expected a positive integer, got 0');
    expect(() => initTower(2, { hidden: 0 }, 0)).toThrow('initTower: hidden: expected a positive integer, got 0');
    expect(() => initTower(2, { pool: 'mean' as never }, 0)).toThrow('initTower: pool: expected "sum" or "sum+max", got "mean"');
  });

  it('round-trips through its file and rejects other files', async () => {
    const student = initStudent(6, { hidden: 5, outDim: 3, seed: 4, pool, normalize });
    student.scale = 13.5;
    const { student: back, metadata } = studentFromSafetensors(studentToSafetensors(student, { teacher: 'x' }));
    expect(metadata.teacher).toBe('x');
    expect(back.scale).toBe(13.5);
    expect(Array.from(back.image.w1)).toEqual(Array.from(student.image.w1));
    expect(Array.from(back.text.w2)).toEqual(Array.from(student.text.w2));
    expect(back.text.hidden).toBe(5);
    expect([back.image.pool, back.text.normalize]).toEqual([pool, normalize]);
    expect(Array.from(embedTower(back.image, randomSets(2, 3, 6, 3)))).toEqual(Array.from(embedTower(student.image, randomSets(2, 3, 6, 3))));
    expect(() => studentFromSafetensors(new Uint8Array(16), 'x.safetensors')).toThrow(/x\.safetensors/);
    const notStudent = studentToSafetensors(student);
    const { writeSafetensors } = await import('../../src/io/safetensors.js');
    expect(() => studentFromSafetensors(writeSafetensors({ a: { shape: [1], data: new Float32Array(1) } }), 'model.safetensors'))
      .toThrow('model.safetensors: not a student file (metadata format undefined, expected "naaf-student/1")');
    expect(notStudent.length).toBeGreaterThan(0);
  });
});

describe('listwise KL', () => {
  it('has the gradients of central finite differences, and zero loss when student and teacher agree', () => {
    const rand = seededRandom(2);
    const D = 3, B = 2, C = 4;
    const unit = (n: number) => {
      const v = Float32Array.from({ length: n * D }, () => rand() - 0.5);
      for (let i = 0; i < n; i++) { const s = Math.hypot(...v.subarray(i * D, i * D + D)); for (let d = 0; d < D; d++) v[i * D + d] /= s; }
      return v;
    };
    const caps = unit(B), cands = unit(C);
    const teacher = Float64Array.from({ length: B * C }, () => 3 * rand());
    const scale = 4;
    const g = listwiseKL(caps, cands, D, teacher, scale);
    const eps = 1e-3;
    const lossAt = (c: Float32Array, k: Float32Array, s: number) => listwiseKL(c, k, D, teacher, s).loss;
    for (const [arr, grad] of [[caps, g.dCaptions], [cands, g.dCandidates]] as const) {
      for (let j = 0; j < arr.length; j++) {
        const keep = arr[j]!;
        arr[j] = keep + eps; const up = lossAt(caps, cands, scale);
        arr[j] = keep - eps; const down = lossAt(caps, cands, scale);
        arr[j] = keep;
        expect(grad[j]!).toBeCloseTo((up - down) / (2 * eps), 4);
      }
    }
    expect(g.dScale).toBeCloseTo((lossAt(caps, cands, scale + eps) - lossAt(caps, cands, scale - eps)) / (2 * eps), 4);
    // The teacher's own logits as the student's: KL 0.
    const cos = new Float64Array(B * C);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) cos[b * C + c] += caps[b * D + d]! * cands[c * D + d]!;
    expect(listwiseKL(caps, cands, D, cos.map((x) => x * scale), scale).loss).toBeCloseTo(0, 10);
  });
});

describe('distillStudent', () => {
  // A teacher the student can represent but does not start with: each image and caption is a
  // bag of a hidden concept's noisy rows; the teacher scores a caption by its concept's share of
  // the image's rows (more unmentioned content ranks an image down, as in NAAF).
  function problem(G: number, M: number, seed: number) {
    const rand = seededRandom(seed);
    const E = 6, R = 4, L = 3, K = 5;
    const concepts = Array.from({ length: K }, () => Float32Array.from({ length: E }, () => rand() * 2 - 1));
    const row = (k: number, out: Float32Array, at: number) => { for (let e = 0; e < E; e++) out[at + e] = concepts[k]![e]! + 0.1 * (rand() - 0.5); };
    const imageConcepts = Array.from({ length: G }, () => Array.from({ length: R }, () => Math.floor(rand() * K)));
    const images = new Float32Array(G * R * E);
    imageConcepts.forEach((cs, n) => cs.forEach((k, r) => row(k, images, (n * R + r) * E)));
    const captionConcept = Array.from({ length: M }, () => Math.floor(rand() * K));
    const words = new Float32Array(M * L * E);
    captionConcept.forEach((k, m) => { for (let l = 0; l < L; l++) row(k, words, (m * L + l) * E); });
    const teacher = new Float32Array(G * M);
    for (let n = 0; n < G; n++) for (let m = 0; m < M; m++) teacher[n * M + m] = imageConcepts[n]!.filter((k) => k === captionConcept[m]).length / R + 0.01 * rand();
    return { images: { data: images, shape: [G, R, E] as const }, captions: { data: words, shape: [M, L, E] as const }, teacher };
  }

  it('learns the teacher\'s ranking: dev containment rises from the untrained student', () => {
    const data = problem(120, 60, 1);
    const devCaptions = Array.from({ length: 15 }, (_, i) => 45 + i);
    const before = containment(initStudent(6, { hidden: 32, outDim: 8, seed: 0 }), data, devCaptions, [30]);
    const { student, evals } = distillStudent(data, { hidden: 32, outDim: 8, steps: 150, batch: 16, top: 10, random: 40, temperature: 0.05, lr: 1e-2, devCaptions, evalEvery: 150 });
    expect(evals).toHaveLength(1);
    expect(evals[0]!.containment[100]).toBe(1); // top-100 of 120 images
    const after = containment(student, data, devCaptions, [30]);
    expect(after[30]!).toBeGreaterThan(before[30]! + 0.3);
  });

  it('continues from a given student (its shape, its weights; the given one left as it was)', () => {
    const data = problem(120, 60, 1);
    const devCaptions = Array.from({ length: 15 }, (_, i) => 45 + i);
    const first = distillStudent(data, { hidden: 32, outDim: 8, steps: 75, batch: 16, top: 10, random: 40, temperature: 0.05, lr: 1e-2, devCaptions, evalEvery: 75 });
    const saved = first.student.image.w1.slice();
    // A near-zero step size: the continued student is the given one.
    const frozen = distillStudent(data, { steps: 1, batch: 16, top: 10, random: 40, temperature: 0.05, lr: 1e-12, devCaptions, evalEvery: 1, init: first.student });
    expect(frozen.student.image.hidden).toBe(32);
    expect(frozen.student.image.outDim).toBe(8);
    expect(frozen.evals[0]!.containment).toEqual(first.evals[0]!.containment);
    const second = distillStudent(data, { steps: 75, batch: 16, top: 10, random: 40, temperature: 0.05, lr: 1e-2, devCaptions, evalEvery: 75, init: first.student });
    expect(first.student.image.w1).toEqual(saved);
    expect(second.evals[0]!.loss).toBeLessThan(first.evals[0]!.loss);
    expect(() => distillStudent(data, { steps: 1, init: initStudent(5, { hidden: 4, outDim: 3 }) })).toThrow('distillStudent: init.image: reads 5-wide embeddings, the data is 6 wide');
  });

  it('rejects bad data and options, naming them', () => {
    const data = problem(10, 4, 2);
    expect(() => distillStudent({ ...data, teacher: new Float32Array(3) })).toThrow('distillStudent: teacher: has 3 scores, expected images x captions = 40');
    const nan = data.teacher.slice(); nan[5] = NaN;
    expect(() => distillStudent({ ...data, teacher: nan })).toThrow('distillStudent: teacher: score 5 is NaN');
    expect(() => distillStudent(data, { temperature: 0 })).toThrow('distillStudent: temperature: expected a positive number, got 0');
    expect(() => distillStudent(data, { steps: 1.5 })).toThrow('distillStudent: steps: expected a positive integer, got 1.5');
    expect(() => distillStudent(data, { devCaptions: [4] })).toThrow('distillStudent: devCaptions: index 4 is outside [0, 4)');
    expect(() => distillStudent(data, { devCaptions: [0, 1, 2, 3] })).toThrow('distillStudent: devCaptions: hold out fewer captions than there are');
    expect(() => distillStudent({ ...data, captions: { data: new Float32Array(4 * 3 * 5), shape: [4, 3, 5] } })).toThrow('distillStudent: captions.shape[2]: 5 must equal images.shape[2] = 6');
  });
});

describe('vectorTopK', () => {
  it('equals a full sort by inner product (ties: lower index first), also with k past N', () => {
    for (const D of [3, 5, 8]) expectSorted(D);
  });

  function expectSorted(D: number): void {
    const rand = seededRandom(8 + D);
    const N = 300;
    // Values on a coarse grid, so many rows tie.
    const vectors = Float32Array.from({ length: N * D }, () => Math.round(rand() * 4) / 4);
    const query = Float32Array.from({ length: D }, () => Math.round(rand() * 4) / 4);
    const dot = (n: number) => { let s = 0; for (let d = 0; d < D; d++) s += vectors[n * D + d]! * query[d]!; return Math.fround(s); };
    const order = Array.from({ length: N }, (_, n) => n).sort((a, b) => dot(b) - dot(a) || a - b);
    for (const k of [1, 7, 50, 299, 300, 1000]) {
      const { indices, scores } = vectorTopK(vectors, D, query, k);
      expect(Array.from(indices)).toEqual(order.slice(0, Math.min(k, N)));
      expect(Array.from(scores)).toEqual(order.slice(0, Math.min(k, N)).map(dot));
    }
  }

  it('rejects bad shapes and k', () => {
    expect(() => vectorTopK(new Float32Array(7), 3, [1, 2, 3], 1)).toThrow('vectorTopK: vectors has 7 values, not a whole number of rows of D = 3');
    expect(() => vectorTopK(new Float32Array(6), 3, [1, 2], 1)).toThrow('vectorTopK: query has 2 values, expected D = 3');
    expect(() => vectorTopK(new Float32Array(6), 3, [1, 2, 3], 0)).toThrow('vectorTopK: k must be a positive integer, got 0');
  });
});
