// A small learnable dataset in the precomp layout: each image shows 2-3 of K concepts (regions
// are a concept's prototype feature plus noise, the rest background noise), and its 5 captions
// name its concepts (in random order, with filler words), so retrieval can be learned.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeNpy } from '../../src/io/npy.js';
import { rng } from '../random.js';

export interface SyntheticSizes { train: number; dev: number; regions: number; imgDim: number; concepts: number; seed: number }

export function writeSyntheticDataset(dir: string, sizes: SyntheticSizes): { vocabSize: number } {
  const next = rng(sizes.seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const prototypes = Array.from({ length: sizes.concepts }, () => Float32Array.from({ length: sizes.imgDim }, () => Math.max(0, gaussian() + 0.5)));
  const conceptWords = Array.from({ length: sizes.concepts }, (_, k) => `thing${k}`);
  const fillers = ['a', 'the', 'with', 'and', 'near', '.'];
  const words = ['<pad>', '<start>', '<end>', '<unk>', ...conceptWords, ...fillers];
  const word2idx = Object.fromEntries(words.map((w, i) => [w, i]));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'synthetic_vocab.json'), JSON.stringify({ word2idx, idx2word: Object.fromEntries(words.map((w, i) => [String(i), w])), idx: words.length }));
  for (const [split, count] of [['train', sizes.train], ['dev', sizes.dev]] as const) {
    const features = new Float32Array(count * sizes.regions * sizes.imgDim);
    const captions: string[] = [];
    for (let n = 0; n < count; n++) {
      const shown = new Set<number>();
      const howMany = 2 + Math.floor(next() * 2);
      while (shown.size < howMany) shown.add(Math.floor(next() * sizes.concepts));
      const concepts = [...shown];
      for (let r = 0; r < sizes.regions; r++) {
        const base = (n * sizes.regions + r) * sizes.imgDim;
        const proto = r < concepts.length * 2 ? prototypes[concepts[r % concepts.length]] : null;
        for (let d = 0; d < sizes.imgDim; d++) features[base + d] = Math.max(0, (proto ? proto[d] : 0.3) + 0.3 * gaussian());
      }
      for (let c = 0; c < 5; c++) {
        const said = concepts.filter(() => next() < 0.8);
        if (said.length === 0) said.push(concepts[0]);
        said.sort(() => next() - 0.5);
        captions.push(['a', ...said.flatMap((k) => [conceptWords[k], fillers[Math.floor(next() * 4)]]), '.'].join(' '));
      }
    }
    writeFileSync(join(dir, `${split}_ims.npy`), encodeNpy(features, [count, sizes.regions, sizes.imgDim]));
    writeFileSync(join(dir, `${split}_caps.txt`), captions.join('\n') + '\n');
  }
  return { vocabSize: words.length };
}
