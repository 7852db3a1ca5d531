// What a scene is made of: CLEVR-like objects with four attributes and a position. Every word
// is a plain lower-case ASCII word that tokenizes to itself, and none starts with a vowel, so
// captions always say "a" and a one-word foil never leaves a telltale "a"/"an" mismatch.

export const COLORS = ['red', 'blue', 'green', 'yellow', 'purple', 'brown', 'gray', 'cyan'] as const;
export const SHAPES = ['cube', 'sphere', 'cylinder', 'cone', 'torus', 'pyramid'] as const;
export const SIZES = ['small', 'large'] as const;
export const MATERIALS = ['metal', 'rubber', 'glass'] as const;

export type Color = (typeof COLORS)[number];
export type Shape = (typeof SHAPES)[number];
export type Size = (typeof SIZES)[number];
export type Material = (typeof MATERIALS)[number];

/** Fill colours for drawing (CLEVR's palette, roughly). */
export const COLOR_HEX: Readonly<Record<Color, string>> = {
  red: '#ad2323', blue: '#2a4bd7', green: '#1d6914', yellow: '#e6c619',
  purple: '#8126c0', brown: '#814a19', gray: '#575757', cyan: '#29d0d0',
};

export interface SceneObject {
  color: Color;
  shape: Shape;
  size: Size;
  material: Material;
  /** Position in the picture, both in [0, 1]; y grows downwards (so "above" means smaller y). */
  x: number;
  y: number;
}

export interface Scene {
  objects: SceneObject[];
  /** For each region of the image's feature row: the index of the object it views, or -1 for background. */
  regions: number[];
}

/** The attributes a caption word can name, in the order a noun phrase says them. */
export const CATEGORIES = ['size', 'color', 'material', 'shape'] as const;
export type Category = (typeof CATEGORIES)[number];

export const VALUES: Readonly<Record<Category, readonly string[]>> = {
  size: SIZES, color: COLORS, material: MATERIALS, shape: SHAPES,
};

/** The attribute category a word names, or undefined for grammar words. */
export function categoryOf(word: string): Category | undefined {
  return CATEGORIES.find((c) => VALUES[c].includes(word));
}

/** Values of `category` that no object in the scene has: what a foil may swap in. */
export function absentValues(scene: Pick<Scene, 'objects'>, category: Category): string[] {
  const present = new Set(scene.objects.map((o) => o[category]));
  return VALUES[category].filter((v) => !present.has(v as never));
}
