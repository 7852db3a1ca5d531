// Test-split evaluation of a trained model on the scenes dataset: recalls both ways, rsum, and
// foil accuracy (the true caption must outscore the same caption with one absent attribute or
// object swapped in). Keeps the embeddings and the similarity matrix for the report.
import type { ScoreMethod } from '../methods/index.js';
import type { NaafEngine } from '../engine.js';
import { encodeCaptionIds } from '../data/precomp.js';
import type { Vocabulary } from '../data/vocab.js';
import { RecallResult, recallMetrics } from '../eval/recall.js';
import type { NpyReader } from '../io/npy.js';
import type { Embeddings, NaafModel } from '../model/model.js';
import type { Foil } from '../scenes/foils.js';
import { foilAccuracy } from '../scenes/foils.js';
import { similarityOptionsOf } from '../similarity/modelOptions.js';
import type { SimilarityOptions } from '../types.js';

export interface TestEvaluation extends RecallResult {
  foilAccuracy: number;
  sims: Float32Array; // [N, 5N]
  foilSims: Float32Array; // [N, foils]
  images: Embeddings;
  captions: Embeddings & { lengths: Int32Array };
  foilCaptions: Embeddings & { lengths: Int32Array };
  options: SimilarityOptions;
}

async function encodeTexts(model: NaafModel, texts: string[], vocab: Vocabulary) {
  const { ids, lengths, maxWords } = encodeCaptionIds(texts, vocab, model.config.vocabSize);
  return model.encodeCaptions({ ids, shape: [texts.length, maxWords], lengths });
}

export async function evaluateOnTest(engine: NaafEngine, model: NaafModel, method: ScoreMethod, images: NpyReader,
  captions: string[], foils: Foil[], vocab: Vocabulary): Promise<TestEvaluation> {
  const [N, R, D] = images.shape;
  const imageEmb = await model.encodeImages({ data: await images.readRows(0, N), shape: [N, R, D] });
  const captionEmb = await encodeTexts(model, captions, vocab);
  const foilEmb = await encodeTexts(model, foils.map((f) => f.foil), vocab);
  const options = similarityOptionsOf(method, model);
  const sims = await engine.similarity(imageEmb, captionEmb, options);
  const foilSims = await engine.similarity(imageEmb, foilEmb, options);
  const M = captions.length;
  const trueScores = foils.map((f) => sims[f.imageIndex * M + f.captionIndex]);
  const foilScores = foils.map((f, k) => foilSims[f.imageIndex * foils.length + k]);
  return {
    ...recallMetrics(sims, N, M),
    foilAccuracy: foilAccuracy(trueScores, foilScores),
    sims, foilSims, images: imageEmb, captions: captionEmb, foilCaptions: foilEmb, options,
  };
}
