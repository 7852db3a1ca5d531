// How a two-stage search's rankings agree with exhaustive scoring, as the field measures it
// (../shared/docs/search-anchors.md): the share of queries whose top-k is exhaustive's in the same
// order, the mean overlap@k (order ignored), and Rank-Biased Overlap (Webber, Moffat and Zobel
// 2010; the PLAID reproducibility study reports it against exhaustive ColBERTv2). A ranking is a
// list of ids, best first.

/** Checks two rankings of one query: ids, no repeats, at least `k` of each. */
function checkPair(what: string, candidate: ArrayLike<number>, reference: ArrayLike<number>, k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new Error(`${what}: k must be an integer >= 1, got ${k}`);
  for (const [name, list] of [['candidate', candidate], ['reference', reference]] as const) {
    if (list.length < k) throw new Error(`${what}: the ${name} ranking must hold at least k = ${k} ids, got ${list.length}`);
    if (new Set(Array.prototype.slice.call(list, 0, k)).size !== k) throw new Error(`${what}: the ${name} ranking repeats an id in its top ${k}`);
  }
}

/** Whether the two top-k lists are equal, in order. */
export function sameTopK(candidate: ArrayLike<number>, reference: ArrayLike<number>, k: number): boolean {
  checkPair('sameTopK', candidate, reference, k);
  for (let i = 0; i < k; i++) if (candidate[i] !== reference[i]) return false;
  return true;
}

/** |top-k(candidate) and top-k(reference)| / k: the share of the reference's top-k found, in any order. */
export function overlapAt(candidate: ArrayLike<number>, reference: ArrayLike<number>, k: number): number {
  checkPair('overlapAt', candidate, reference, k);
  const wanted = new Set(Array.prototype.slice.call(reference, 0, k));
  let found = 0;
  for (let i = 0; i < k; i++) if (wanted.has(candidate[i])) found++;
  return found / k;
}

/**
 * Extrapolated Rank-Biased Overlap of the two rankings to depth `depth` (RBO_ext, equation 32 of
 * Webber et al.): (1 - p) / p * sum_{d <= depth} A_d p^d + A_depth p^depth, with A_d the overlap
 * of the top-d lists over d. 1 for equal rankings, 0 for disjoint ones; p weighs the top (at
 * p 0.9 the first 10 ranks carry about 86% of the weight).
 */
export function rankBiasedOverlap(candidate: ArrayLike<number>, reference: ArrayLike<number>, depth: number, p = 0.9): number {
  checkPair('rankBiasedOverlap', candidate, reference, depth);
  if (!(p > 0 && p < 1)) throw new Error(`rankBiasedOverlap: p must lie in (0, 1), got ${p}`);
  const seenA = new Set<number>();
  const seenB = new Set<number>();
  let shared = 0;
  let sum = 0;
  let agreement = 0;
  for (let d = 1; d <= depth; d++) {
    const a = candidate[d - 1];
    const b = reference[d - 1];
    if (a === b) shared++;
    else {
      if (seenB.has(a)) shared++;
      if (seenA.has(b)) shared++;
    }
    seenA.add(a);
    seenB.add(b);
    agreement = shared / d;
    sum += agreement * p ** d;
  }
  return ((1 - p) / p) * sum + agreement * p ** depth;
}

export interface Fidelity {
  /** Share of queries whose top-k equals the reference's, in order. */
  identical: number;
  /** Mean overlap@k. */
  overlap: number;
  /** Mean RBO to depth k. */
  rbo: number;
}

/** The fidelity of candidate rankings to reference rankings, one of each per query. */
export function fidelity(candidates: readonly ArrayLike<number>[], references: readonly ArrayLike<number>[], k: number, p = 0.9): Fidelity {
  if (candidates.length !== references.length) throw new Error(`fidelity: ${candidates.length} candidate rankings against ${references.length} references; one of each per query`);
  if (candidates.length === 0) throw new Error('fidelity: no queries');
  let identical = 0;
  let overlap = 0;
  let rbo = 0;
  candidates.forEach((candidate, q) => {
    if (sameTopK(candidate, references[q], k)) identical++;
    overlap += overlapAt(candidate, references[q], k);
    rbo += rankBiasedOverlap(candidate, references[q], k, p);
  });
  const Q = candidates.length;
  return { identical: identical / Q, overlap: overlap / Q, rbo: rbo / Q };
}
