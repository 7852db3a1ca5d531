// The report's figures from a trained NAAF model's test embeddings: the matched / mismatched
// word-region similarity distributions with the learned boundary, and query panels with NAAF's
// per-word terms (float64 reference on the embeddings) and the top-5 retrieved scenes.
import { tokenize } from '../data/tokenize.js';
import { naafWordTermsRef } from '../ref/naaf.js';
import type { QueryPanel, WordTerm } from '../report/types.js';
import { captionWordTerms } from '../report/wordTerms.js';
import type { Scene } from '../scenes/attributes.js';
import type { Foil } from '../scenes/foils.js';
import { drawScene } from '../scenes/svg.js';
import type { TestEvaluation } from './evaluate.js';

type Pair = Parameters<typeof naafWordTermsRef>[0];

function batchOf(e: TestEvaluation, captions: TestEvaluation['captions']): Pair {
  const [N, R, D] = e.images.shape;
  const [M, L] = captions.shape;
  return { images: e.images.data, captions: captions.data, lengths: captions.lengths, N, R, M, L, D };
}

/** Matched: each word of each test caption with its own image; mismatched: each foil's swapped-in word with its image. */
export function similarityDistributions(e: TestEvaluation, foils: Foil[]): { matched: number[]; mismatched: number[] } {
  const options = { threshold: 0, intra: false };
  const matched: number[] = [];
  const captions = batchOf(e, e.captions);
  for (let m = 0; m < captions.M; m++) {
    const terms = naafWordTermsRef(captions, Math.floor(m / 5), m, options);
    for (let w = 1; w < terms.sMax.length - 1; w++) matched.push(terms.sMax[w]); // without <start>, <end>
  }
  const foilBatch = batchOf(e, e.foilCaptions);
  const mismatched: number[] = [];
  foils.forEach((f, k) => {
    const tokens = tokenize(f.foil);
    const position = tokens.indexOf(f.swapped[1]);
    if (position < 0) return;
    const terms = naafWordTermsRef(foilBatch, f.imageIndex, k, options);
    mismatched.push(terms.sMax[position + 1]); // +1: <start>
  });
  return { matched, mismatched };
}

function wordTerms(e: TestEvaluation, captions: TestEvaluation['captions'], imageIndex: number, captionIndex: number, text: string): WordTerm[] {
  if (e.options.method !== 'naaf') throw new Error('report: word terms need the NAAF model');
  const terms = naafWordTermsRef(batchOf(e, captions), imageIndex, captionIndex, { threshold: e.options.threshold, lambdaSoftmax: e.options.lambdaSoftmax });
  return captionWordTerms(tokenize(text), terms);
}

function top5(sims: Float32Array, N: number, stride: number, column: number, correctImage: number, scenes: Scene[], tag: string) {
  const order = Array.from({ length: N }, (_, n) => n).sort((a, b) => sims[b * stride + column] - sims[a * stride + column]);
  return order.slice(0, 5).map((n, rank) => ({
    imageIndex: n, score: sims[n * stride + column], correct: n === correctImage,
    svg: drawScene(scenes[n], { width: 200, height: 150, idPrefix: `${tag}r${rank}` }),
  }));
}

/** A few caption queries and the foils of the same images. */
export function queryPanels(e: TestEvaluation, captions: string[], foils: Foil[], scenes: Scene[], count = 3): QueryPanel[] {
  const N = e.images.shape[0];
  const M = captions.length;
  const panels: QueryPanel[] = [];
  for (let q = 0; q < count && q < foils.length; q++) {
    const foilIndex = Math.floor((q * foils.length) / count);
    const foil = foils[foilIndex];
    const m = foil.captionIndex;
    panels.push({
      kind: 'caption', caption: captions[m], words: wordTerms(e, e.captions, foil.imageIndex, m, captions[m]),
      top5: top5(e.sims, N, M, m, foil.imageIndex, scenes, `q${q}c`),
    });
    panels.push({
      kind: 'foil', caption: foil.foil, swapped: foil.swapped, words: wordTerms(e, e.foilCaptions, foil.imageIndex, foilIndex, foil.foil),
      top5: top5(e.foilSims, N, foils.length, foilIndex, foil.imageIndex, scenes, `q${q}f`),
    });
  }
  return panels;
}
