// The generated scenes dataset: determinism, layout, captions in the vocabulary, foils that
// name something absent, read-back through the precomp loader, SVG, and feature signal.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findVocabulary, openPrecompSplit } from '../../src/data/precomp.js';
import { tokenize } from '../../src/data/tokenize.js';
import { Vocabulary } from '../../src/data/vocab.js';
import {
  CATEGORIES, COLOR_HEX, COLORS, SCENES_FILES, SCENES_WORDS, SHAPES, SPLITS, VALUES, absentValues, categoryOf, drawScene,
  foilAccuracy, foilAccuracyOf, generateScenes, readScenes, relationOf, resolveScenesConfig, writeScenes,
  type Category, type ScenesDataset,
} from '../../src/scenes/index.js';
import { runScenes } from '../../src/cli/scenes.js';

const SMALL = { images: 40, splits: { dev: 10, test: 12 }, regions: 12, imgDim: 16, seed: 7 };
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'naaf-scenes-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const small = generateScenes(SMALL);

describe('generateScenes', () => {
  it('writes byte-identical files for the same seed and different ones for another seed', async () => {
    const [a, b, c] = [await tempDir(), await tempDir(), await tempDir()];
    await writeScenes(a, small);
    await writeScenes(b, generateScenes(SMALL));
    await writeScenes(c, generateScenes({ ...SMALL, seed: 8 }));
    for (const name of SCENES_FILES) {
      const bytes = await readFile(join(a, name));
      expect(Buffer.compare(bytes, await readFile(join(b, name))), name).toBe(0);
      if (name !== 'scenes_vocab.json') expect(Buffer.compare(bytes, await readFile(join(c, name))), name).not.toBe(0);
    }
  });

  it('keeps the embeddings and other splits when only the train size changes', () => {
    const more = generateScenes({ ...SMALL, images: 60 });
    expect(more.splits.test.features).toEqual(small.splits.test.features);
    expect(more.splits.test.captions).toEqual(small.splits.test.captions);
    expect(more.foils).toEqual(small.foils);
  });

  it('sizes the splits: dev and test a tenth of train, at least 100, at most train', () => {
    expect(resolveScenesConfig({ images: 1000 }).images).toEqual({ train: 1000, dev: 100, test: 100 });
    expect(resolveScenesConfig({ images: 3000 }).images).toEqual({ train: 3000, dev: 300, test: 300 });
    expect(resolveScenesConfig({ images: 50 }).images).toEqual({ train: 50, dev: 50, test: 50 });
    expect(resolveScenesConfig({}).regions).toBe(36);
    expect(() => resolveScenesConfig({ regions: 4 })).toThrow(/regions: expected an integer >= 5, got 4/);
    expect(() => resolveScenesConfig({ images: 2.5 })).toThrow(/images: expected an integer >= 1, got 2.5/);
    expect(() => resolveScenesConfig({ noise: -1 })).toThrow(/noise: expected a finite number >= 0, got -1/);
  });

  it('has the promised shapes and non-negative features', () => {
    const { regions, imgDim } = small.config;
    for (const split of SPLITS) {
      const { scenes, features, captions } = small.splits[split];
      expect(scenes.length).toBe(small.config.images[split]);
      expect(features.length).toBe(scenes.length * regions * imgDim);
      expect(captions.length).toBe(5 * scenes.length);
      expect(features.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
      const zeros = features.filter((v) => v === 0).length / features.length;
      expect(zeros).toBeGreaterThan(0.05); // ReLU'd
      expect(zeros).toBeLessThan(0.8);
      for (const scene of scenes) {
        expect(scene.objects.length).toBeGreaterThanOrEqual(2);
        expect(scene.objects.length).toBeLessThanOrEqual(5);
        expect(scene.regions.length).toBe(regions);
        scene.objects.forEach((o, i) => {
          for (const c of CATEGORIES) expect(VALUES[c]).toContain(o[c]);
          expect(o.x >= 0 && o.x <= 1 && o.y >= 0 && o.y <= 1).toBe(true);
          const views = scene.regions.filter((r) => r === i).length;
          expect(views).toBeGreaterThanOrEqual(2); // R = 12 fits 2 views of 5 objects
          expect(views).toBeLessThanOrEqual(4);
        });
        expect(scene.regions.every((r) => r >= -1 && r < scene.objects.length)).toBe(true);
      }
    }
  });
});

describe('captions', () => {
  const vocab = Vocabulary.fromJSON(small.vocabulary);

  it('has a SCAN-flavour vocabulary of the grammar words, from id 4 in a fixed order', () => {
    expect(vocab.flavour).toBe('scan');
    expect(vocab.size).toBe(4 + SCENES_WORDS.length);
    SCENES_WORDS.forEach((w, i) => expect(vocab.id(w)).toBe(4 + i));
  });

  it('writes 5 captions per image, every token in the vocabulary, every attribute word true of the image', () => {
    for (const split of SPLITS) {
      const { scenes, captions } = small.splits[split];
      captions.forEach((caption, k) => {
        const ids = vocab.encode(caption);
        expect(ids, caption).not.toContain(vocab.unkId);
        expect(tokenize(caption)).toEqual(caption.split(' '));
        const scene = scenes[Math.floor(k / 5)]!;
        for (const word of caption.split(' ')) {
          const category = categoryOf(word);
          if (category) expect(absentValues(scene, category), `${caption}: ${word}`).not.toContain(word);
        }
      });
    }
  });

  it('uses every vocabulary word somewhere', () => {
    const used = new Set(generateScenes({ images: 200, splits: { dev: 1, test: 1 }, regions: 12, imgDim: 4 }).splits.train.captions.flatMap(tokenize));
    expect(SCENES_WORDS.filter((w) => !used.has(w))).toEqual([]);
  });

  it('reads relations off the positions (y grows downwards)', () => {
    expect(relationOf({ x: 0.1, y: 0.5 }, { x: 0.6, y: 0.55 })).toBe('left of');
    expect(relationOf({ x: 0.8, y: 0.5 }, { x: 0.2, y: 0.3 })).toBe('right of');
    expect(relationOf({ x: 0.5, y: 0.1 }, { x: 0.55, y: 0.7 })).toBe('above');
    expect(relationOf({ x: 0.5, y: 0.9 }, { x: 0.4, y: 0.2 })).toBe('below');
    expect(relationOf({ x: 0.5, y: 0.5 }, { x: 0.6, y: 0.6 })).toBe('next to');
  });
});

describe('foils', () => {
  it('swaps exactly one token of every test caption for an attribute the image lacks', () => {
    const { scenes, captions } = small.splits.test;
    expect(small.foils.length).toBe(captions.length);
    small.foils.forEach((f, k) => {
      expect(f.captionIndex).toBe(k);
      expect(f.imageIndex).toBe(Math.floor(k / 5));
      expect(f.caption).toBe(captions[k]);
      const a = tokenize(f.caption);
      const b = tokenize(f.foil);
      expect(b.length).toBe(a.length);
      const diff = a.flatMap((t, i) => (t === b[i] ? [] : [i]));
      expect(diff.length, `${f.caption} / ${f.foil}`).toBe(1);
      expect([a[diff[0]!], b[diff[0]!]]).toEqual(f.swapped);
      const category = categoryOf(f.swapped[1]) as Category;
      expect(categoryOf(f.swapped[0])).toBe(category);
      expect(scenes[f.imageIndex]!.objects.map((o) => o[category])).not.toContain(f.swapped[1]);
    });
  });

  it('foilAccuracy counts the strict wins', () => {
    expect(foilAccuracy([3, 2, 1, 5], [1, 2, 0, 6])).toBe(0.5);
    expect(foilAccuracy(Float32Array.of(1), Float32Array.of(0))).toBe(1);
    expect(() => foilAccuracy([1, 2], [1])).toThrow(/foilScores: expected as many scores as trueScores \(2\), got 1/);
    expect(() => foilAccuracy([], [])).toThrow(/trueScores: expected at least one score/);
    // A scorer that counts the caption's words true of the image beats every foil.
    const scoreOf = (image: number, caption: string) =>
      caption.split(' ').filter((w) => { const c = categoryOf(w); return c && !absentValues(small.splits.test.scenes[image]!, c).includes(w); }).length;
    expect(foilAccuracyOf(small.foils, scoreOf)).toBe(1);
    expect(foilAccuracyOf(small.foils, () => 0)).toBe(0);
  });
});

describe('writeScenes', () => {
  it('reads back through the precomp loader and readScenes', async () => {
    const dir = await tempDir();
    const written = await writeScenes(dir, small);
    expect(written.map((p) => p.slice(dir.length + 1))).toEqual([...SCENES_FILES]);
    for (const split of SPLITS) {
      const { images, captions } = await openPrecompSplit(dir, split);
      try {
        const { scenes, features } = small.splits[split];
        expect(images.shape).toEqual([scenes.length, small.config.regions, small.config.imgDim]);
        expect(await images.readRows(0, scenes.length)).toEqual(features);
        expect(captions).toEqual(small.splits[split].captions);
      } finally {
        await images.close();
      }
    }
    for (const encoder of ['basic', 'glove'] as const) {
      const { vocab, path } = await findVocabulary(dir, encoder);
      expect(path).toBe(`${dir}/scenes_vocab.json`);
      expect(vocab.size).toBe(4 + SCENES_WORDS.length);
    }
    const file = await readScenes(dir);
    expect(file.splits.test).toEqual(small.splits.test.scenes);
    expect(file.foils).toEqual(small.foils);
    expect(file.config).toEqual(small.config);
  });

  it('naaf scenes writes a dataset and rejects bad arguments', async () => {
    const dir = await tempDir();
    const log = console.log;
    console.log = () => {};
    try {
      await runScenes(['--out', dir, '--images', '20', '--regions', '10', '--img-dim', '8', '--seed', '3']);
    } finally {
      console.log = log;
    }
    const { images, captions } = await openPrecompSplit(dir, 'test');
    expect(images.shape).toEqual([20, 10, 8]);
    expect(captions.length).toBe(100);
    await images.close();
    await expect(runScenes(['--images', '20'])).rejects.toThrow(/--out is required/);
    await expect(runScenes(['--out', dir, '--images', 'many'])).rejects.toThrow(/--images must be an integer >= 1, got "many"/);
  });
});

describe('drawScene', () => {
  it('draws one element per object with its colour, deterministically', () => {
    for (const scene of small.splits.test.scenes) {
      const svg = drawScene(scene);
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.endsWith('</svg>')).toBe(true);
      expect(svg.match(/<g class="object"/g)?.length).toBe(scene.objects.length);
      for (const o of scene.objects) {
        expect(svg).toContain(`data-color="${o.color}"`);
        expect(svg).toContain(COLOR_HEX[o.color]);
      }
      expect(svg).not.toMatch(/<script|href=|url\((?!#)/);
      expect(drawScene(scene)).toBe(svg);
    }
    const svg = drawScene({ objects: [{ color: 'red', shape: 'torus', size: 'large', material: 'metal', x: 0.5, y: 0.5 }] }, { width: 100, height: 80, idPrefix: 'p1' });
    expect(svg).toContain('viewBox="0 0 100 80"');
    expect(svg).toContain('id="p1-metal-red"');
  });

  it('refuses what it cannot draw, by name', () => {
    const bad = { objects: [{ color: 'pink', shape: 'cube', size: 'small', material: 'metal', x: 0.5, y: 0.5 }] } as never;
    expect(() => drawScene(bad)).toThrow(/scene.objects\[0\].color: expected one of red, .*got "pink"/);
    expect(() => drawScene(small.splits.test.scenes[0]!, { width: 0 })).toThrow(/options.width: expected a positive number, got 0/);
  });
});

describe('region features', () => {
  // Nearest class mean on centred, l2-normalised regions: fit on train, score on test.
  function probe(data: ScenesDataset, label: (category: Category) => Category) {
    const { imgDim } = data.config;
    const rows = (split: 'train' | 'test') => {
      const out: { x: Float64Array; object: { [k in Category]: string } | null }[] = [];
      const { scenes, features } = data.splits[split];
      scenes.forEach((scene, n) => scene.regions.forEach((o, r) => {
        const x = Float64Array.from(features.subarray((n * scene.regions.length + r) * imgDim, (n * scene.regions.length + r + 1) * imgDim));
        out.push({ x, object: o < 0 ? null : scene.objects[o]! });
      }));
      return out;
    };
    const train = rows('train');
    const test = rows('test');
    const mean = new Float64Array(imgDim);
    train.forEach(({ x }) => x.forEach((v, d) => (mean[d] += v / train.length)));
    const norm = (x: Float64Array) => {
      const c = x.map((v, d) => v - mean[d]!);
      const s = Math.hypot(...c);
      return c.map((v) => v / s);
    };
    const accuracy = (category: Category) => {
      const values = VALUES[label(category)];
      const centroids = values.map(() => new Float64Array(imgDim));
      for (const { x, object } of train) if (object) norm(x).forEach((v, d) => (centroids[values.indexOf(object[category])]![d] += v));
      let right = 0;
      let total = 0;
      for (const { x, object } of test) {
        if (!object) continue;
        const z = norm(x);
        const scores = centroids.map((c) => c.reduce((s, v, d) => s + v * z[d]!, 0) / Math.hypot(...c));
        right += values.indexOf(object[category]) === scores.indexOf(Math.max(...scores)) ? 1 : 0;
        total++;
      }
      return right / total;
    };
    return accuracy;
  }

  it('carry the objects attributes: a nearest-mean probe beats chance by far', () => {
    const data = generateScenes({ images: 150, splits: { dev: 1, test: 40 }, regions: 12, imgDim: 64, seed: 1 });
    const accuracy = probe(data, (c) => c);
    const color = accuracy('color');
    const shape = accuracy('shape');
    expect(color).toBeGreaterThan(3 / COLORS.length); // chance 1/8
    expect(shape).toBeGreaterThan(3 / SHAPES.length); // chance 1/6
    expect(accuracy('material')).toBeGreaterThan(0.5); // chance 1/3
  });
});
