// One live query, for the page (src/live/app.ts) and for anything else holding an engine: the
// caption's words (with those outside the vocabulary flagged), each model's top-k test scenes,
// and NAAF's per-word terms against one chosen scene. Types only from the engine, so the page's
// bundle takes the engine from the browser bundle beside it.
import type { NaafEngine } from '../engine.js';
import type { Gallery } from '../backend/types.js';
import type { Vocabulary } from '../data/vocab.js';
import type { Embeddings, NaafModel } from '../model/model.js';
import type { WordTerm } from '../report/types.js';
import { captionWordTerms } from '../report/wordTerms.js';
import type { SimilarityOptions } from '../types.js';
import { similarityOptionsOf } from '../similarity/modelOptions.js';
import type { LiveMethod } from './manifest.js';

type Tokenize = (caption: string) => string[];

export interface LiveModel {
  method: LiveMethod;
  label: string;
  model: NaafModel;
  /** The test scenes' region embeddings under this model (for word terms) ... */
  images: Embeddings;
  /** ... and the same, resident on the GPU: each query uploads only its caption. */
  gallery: Gallery;
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
  /** The query's word embeddings under this model (for its word terms, without encoding again). */
  caption: Embeddings & { lengths: Int32Array };
}

export function parseQuery(text: string, vocab: Vocabulary, tokenize: Tokenize): ParsedQuery {
  const tokens = tokenize(text);
  return { tokens, unknown: vocab.unknown(tokens), ids: Int32Array.from(vocab.encode(text)) };
}

async function encodeQuery(model: NaafModel, query: ParsedQuery) {
  return model.encodeCaptions({ ids: query.ids, shape: [1, query.ids.length], lengths: [query.ids.length] });
}

/** A model's scenes kept on the GPU for the page's queries (free with gallery.destroy()). */
export async function liveModel(engine: NaafEngine, method: LiveMethod, label: string, model: NaafModel, images: Embeddings): Promise<LiveModel> {
  return { method, label, model, images, gallery: await engine.createGallery(images), options: similarityOptionsOf(method, model) };
}

/** Each model's top-k test scenes for the query (a tie goes to the lower index). */
export async function rankScenes(models: readonly LiveModel[], query: ParsedQuery, k = 5): Promise<MethodRanking[]> {
  if (query.tokens.length === 0) throw new Error('live search: the query has no words');
  const rankings: MethodRanking[] = [];
  for (const m of models) {
    const started = performance.now();
    const caption = await encodeQuery(m.model, query);
    const best = await m.gallery.topK(caption, { ...m.options, k: Math.min(k, m.gallery.size), direction: 't2i' });
    const top = Array.from(best.indices, (imageIndex, i) => ({ imageIndex, score: best.scores[i]! }));
    rankings.push({ method: m.method, label: m.label, top, milliseconds: performance.now() - started, caption });
  }
  return rankings;
}

/** NAAF's terms for each word (<start>, the tokens, <end>) of the query against scene `imageIndex`; `ranking`: NAAF's, from rankScenes. */
export async function queryWordTerms(engine: NaafEngine, naaf: LiveModel, query: ParsedQuery, ranking: MethodRanking, imageIndex: number): Promise<WordTerm[]> {
  if (naaf.options.method !== 'naaf' || ranking.method !== naaf.method) throw new Error(`live search: word terms need the NAAF model and its ranking, got ${naaf.method} and ${ranking.method}`);
  const [N, R, D] = naaf.images.shape;
  if (!Number.isInteger(imageIndex) || imageIndex < 0 || imageIndex >= N) {
    throw new Error(`live search: imageIndex: expected an integer in 0..${N - 1}, got ${imageIndex}`);
  }
  const image = { data: naaf.images.data.subarray(imageIndex * R * D, (imageIndex + 1) * R * D), shape: [1, R, D] as [number, number, number] };
  const terms = await engine.naafWordTerms(image, ranking.caption, naaf.options);
  return captionWordTerms(query.tokens, terms);
}
