// Region features that behave like ReLU'd detector features: a region viewing an object is the
// sum of fixed random embeddings of the object's attributes plus a position code, scaled by a
// per-view factor, plus Gaussian noise, in a latent space of LATENT dims; a fixed random matrix
// projects it to imgDim and a ReLU makes it non-negative. Background regions are noise only.
// The embeddings and the projection depend on (seed, imgDim) alone and are shared by all splits.
import { CATEGORIES, VALUES, type Category, type Scene } from './attributes.js';
import { Rng } from './random.js';

export const LATENT = 48;
// How strongly each attribute shows (shape and colour most, like a detector's strongest cues).
const WEIGHT: Readonly<Record<Category, number>> = { shape: 1, color: 1, size: 0.8, material: 0.8 };
const POSITION_WEIGHT = 0.5;
const POSITION_CODES = 8; // sin/cos of x and y at two frequencies
const BACKGROUND_STD = 1.5;

export interface FeatureSpace {
  imgDim: number;
  /** Per category, per value (in VALUES order): a LATENT-dim embedding. */
  embeddings: Readonly<Record<Category, Float64Array[]>>;
  /** [POSITION_CODES, LATENT] */
  position: Float64Array;
  /** [LATENT, imgDim], scaled by 1/sqrt(LATENT) so a projected value has the latent's spread. */
  projection: Float64Array;
  /** [imgDim], mostly positive so about half the features survive the ReLU. */
  bias: Float64Array;
}

function gaussians(rng: Rng, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.gaussian() * scale);
}

export function createFeatureSpace(rng: Rng, imgDim: number): FeatureSpace {
  const embeddings = Object.fromEntries(
    CATEGORIES.map((c) => [c, VALUES[c].map(() => gaussians(rng, LATENT, WEIGHT[c]))]),
  ) as Record<Category, Float64Array[]>;
  const position = gaussians(rng, POSITION_CODES * LATENT, POSITION_WEIGHT / Math.sqrt(POSITION_CODES / 2));
  const projection = gaussians(rng, LATENT * imgDim, 1 / Math.sqrt(LATENT));
  const bias = Float64Array.from({ length: imgDim }, () => 0.5 + 0.25 * rng.gaussian());
  return { imgDim, embeddings, position, projection, bias };
}

function positionCode(x: number, y: number): number[] {
  const codes: number[] = [];
  for (const f of [1, 2]) codes.push(Math.sin(Math.PI * f * x), Math.cos(Math.PI * f * x), Math.sin(Math.PI * f * y), Math.cos(Math.PI * f * y));
  return codes;
}

/**
 * Writes the scene's regions (scene.regions.length of them) as float32 rows of imgDim into
 * `out` from `offset`. `noise` is the standard deviation of the per-view latent noise.
 */
export function writeRegionFeatures(scene: Scene, space: FeatureSpace, rng: Rng, noise: number, out: Float32Array, offset: number): void {
  const { imgDim, projection, bias } = space;
  const z = new Float64Array(LATENT);
  scene.regions.forEach((objectIndex, r) => {
    if (objectIndex < 0) {
      for (let h = 0; h < LATENT; h++) z[h] = BACKGROUND_STD * rng.gaussian();
    } else {
      const o = scene.objects[objectIndex]!;
      z.fill(0);
      for (const c of CATEGORIES) {
        const e = space.embeddings[c][VALUES[c].indexOf(o[c])]!;
        for (let h = 0; h < LATENT; h++) z[h] += e[h]!;
      }
      positionCode(o.x, o.y).forEach((code, p) => {
        for (let h = 0; h < LATENT; h++) z[h] += code * space.position[p * LATENT + h]!;
      });
      // A view is a differently sized crop: its response strength varies.
      const scale = rng.uniform(0.8, 1.2);
      for (let h = 0; h < LATENT; h++) z[h] = scale * z[h]! + noise * rng.gaussian();
    }
    const row = offset + r * imgDim;
    for (let d = 0; d < imgDim; d++) {
      let v = bias[d]!;
      for (let h = 0; h < LATENT; h++) v += z[h]! * projection[h * imgDim + d]!;
      out[row + d] = v > 0 ? v : 0;
    }
  });
}
