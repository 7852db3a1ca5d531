// One live query, for the page (src/live/app.ts) and for anything else holding an engine: the
// caption's words (with those outside the vocabulary flagged), each model's top-k test scenes,
// and NAAF's per-word terms against one chosen scene. Types only from the engine, so the page's
// bundle takes the engine from the browser bundle beside it.
import type { NaafEngine } from '../engine.js';
import type { Vocabulary } from '../data/vocab.js';
import type { Embeddings, NaafModel } from '../model/model.js';
import type { WordTerm } from '../report/types.js';
import type { SimilarityOptions } from '../types.js';
import type { LiveMethod } from './manifest.js';

type Tokenize = (caption: string) => string[];

export interface LiveModel {
  method: LiveMethod;
  label: string;
  model: NaafModel;
  /** The test scenes' region embeddings under this model. */
  images: Embeddings;
  options: SimilarityOptions;
}

export interface ParsedQuery {
  tokens: string[];
  /** Tokens the vocabulary lacks (read as <unk> by the models). */
  unknown: string[];
  /** <start>, the tokens' ids, <end>. */
  ids: Int32Array;
}

export interface RankedScene { imageIndex: number; score: number }

export interface MethodRanking {
  method: LiveMethod;
  label: string;
  top: RankedScene[];
  milliseconds: number;
}

export function similarityOptionsOf(method: LiveMethod, model: NaafModel): SimilarityOptions {
  return method === 'naaf'
    ? { method: 'naaf', threshold: model.config.threshold ?? 0, lambdaSoftmax: model.config.lambdaSoftmax }
    : { method: 'scan-t2i' };
}

export function parseQuery(text: string, vocab: Vocabulary, tokenize: Tokenize): ParsedQuery {
  const tokens = tokenize(text);
  const unknown = [...new Set(tokens.filter((t) => vocab.id(t) === vocab.unkId))];
  return { tokens, unknown, ids: Int32Array.from(vocab.encode(text)) };
}

/** The k best of `scores` (higher first; a tie goes to the lower index, as a stable sort gives). */
export function topOf(scores: Float32Array, k: number): RankedScene[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order.slice(0, k).map((imageIndex) => ({ imageIndex, score: scores[imageIndex]! }));
}

async function encodeQuery(model: NaafModel, query: ParsedQuery) {
  return model.encodeCaptions({ ids: query.ids, shape: [1, query.ids.length], lengths: [query.ids.length] });
}

/** Each model's top-k test scenes for the query. */
export async function rankScenes(engine: NaafEngine, models: readonly LiveModel[], query: ParsedQuery, k = 5): Promise<MethodRanking[]> {
  if (query.tokens.length === 0) throw new Error('live search: the query has no words');
  const rankings: MethodRanking[] = [];
  for (const m of models) {
    const started = performance.now();
    const caption = await encodeQuery(m.model, query);
    const scores = await engine.similarity(m.images, caption, m.options); // [N, 1]
    rankings.push({ method: m.method, label: m.label, top: topOf(scores, k), milliseconds: performance.now() - started });
  }
  return rankings;
}

/** NAAF's terms for each word (<start>, the tokens, <end>) of the query against scene `imageIndex`. */
export async function queryWordTerms(engine: NaafEngine, naaf: LiveModel, query: ParsedQuery, imageIndex: number): Promise<WordTerm[]> {
  if (naaf.options.method !== 'naaf') throw new Error(`live search: word terms need the NAAF model, got ${naaf.method}`);
  const [N, R, D] = naaf.images.shape;
  if (!Number.isInteger(imageIndex) || imageIndex < 0 || imageIndex >= N) {
    throw new Error(`live search: imageIndex: expected an integer in 0..${N - 1}, got ${imageIndex}`);
  }
  const caption = await encodeQuery(naaf.model, query);
  const image = { data: naaf.images.data.subarray(imageIndex * R * D, (imageIndex + 1) * R * D), shape: [1, R, D] as [number, number, number] };
  const terms = await engine.naafWordTerms(image, caption, naaf.options);
  const tokens = ['<start>', ...query.tokens, '<end>'];
  return tokens.map((token, w) => ({
    token, neg: terms.neg[w]!, posF: terms.posF[w]!, posR: terms.posR[w]!, sMax: terms.sMax[w]!, mismatched: terms.neg[w]! < 0,
  }));
}
