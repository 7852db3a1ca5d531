// drawScene: a self-contained inline SVG of a scene (no external references, no scripts, no
// text beyond a <title>), each object a <g class="object"> drawn by shape, colour and size at
// its position, back to front (smaller y first). The material shows as the paint: metal a
// shiny gradient with a dark rim, rubber flat, glass translucent with a light rim.
import { COLOR_HEX, COLORS, MATERIALS, SHAPES, SIZES, type Color, type Scene, type SceneObject } from './attributes.js';

export interface DrawOptions {
  width?: number;
  height?: number;
  /** Prefix of the gradient ids, distinct per SVG if several on one page need distinct ones (default "scene"). */
  idPrefix?: string;
}

const f = (v: number) => (Math.round(v * 10) / 10).toString();

function mix(hex: string, toward: number, amount: number): string {
  const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `#${channels.map((c) => Math.round(c + (toward - c) * amount).toString(16).padStart(2, '0')).join('')}`;
}

function check(o: SceneObject, i: number): void {
  const bad = (what: string, expected: string, got: unknown) => {
    throw new Error(`drawScene: scene.objects[${i}].${what}: expected ${expected}, got ${JSON.stringify(got)}`);
  };
  if (!COLORS.includes(o.color)) bad('color', `one of ${COLORS.join(', ')}`, o.color);
  if (!SHAPES.includes(o.shape)) bad('shape', `one of ${SHAPES.join(', ')}`, o.shape);
  if (!SIZES.includes(o.size)) bad('size', `one of ${SIZES.join(', ')}`, o.size);
  if (!MATERIALS.includes(o.material)) bad('material', `one of ${MATERIALS.join(', ')}`, o.material);
  for (const axis of ['x', 'y'] as const) {
    if (typeof o[axis] !== 'number' || !(o[axis] >= 0 && o[axis] <= 1)) bad(axis, 'a number in [0, 1]', o[axis]);
  }
}

interface Paint {
  fill: string;
  extra: string; // stroke and opacity attributes
  rim: string; // colour of detail lines
}

function paint(o: SceneObject, prefix: string): Paint {
  const hex = COLOR_HEX[o.color];
  if (o.material === 'metal') return { fill: `url(#${prefix}-metal-${o.color})`, extra: ` stroke="${mix(hex, 0, 0.45)}" stroke-width="1.2"`, rim: mix(hex, 0, 0.45) };
  if (o.material === 'glass') return { fill: hex, extra: ' fill-opacity="0.5" stroke="#ffffff" stroke-opacity="0.85" stroke-width="1.5"', rim: '#ffffff' };
  return { fill: hex, extra: '', rim: mix(hex, 0, 0.3) };
}

function shapeElements(o: SceneObject, cx: number, cy: number, r: number, p: Paint): string {
  const body = `fill="${p.fill}"${p.extra}`;
  switch (o.shape) {
    case 'cube':
      return `<rect x="${f(cx - r)}" y="${f(cy - r)}" width="${f(2 * r)}" height="${f(2 * r)}" rx="${f(r * 0.08)}" ${body}/>`;
    case 'sphere':
      return `<circle cx="${f(cx)}" cy="${f(cy)}" r="${f(r)}" ${body}/>`;
    case 'cylinder': {
      const w = 0.75 * r;
      const e = 0.25 * r;
      return `<path d="M${f(cx - w)} ${f(cy - r)}V${f(cy + r)}A${f(w)} ${f(e)} 0 0 0 ${f(cx + w)} ${f(cy + r)}V${f(cy - r)}Z" ${body}/>`
        + `<ellipse cx="${f(cx)}" cy="${f(cy - r)}" rx="${f(w)}" ry="${f(e)}" ${body}/>`;
    }
    case 'cone': {
      const w = 0.9 * r;
      return `<path d="M${f(cx)} ${f(cy - r)}L${f(cx + w)} ${f(cy + 0.8 * r)}A${f(w)} ${f(0.25 * r)} 0 0 1 ${f(cx - w)} ${f(cy + 0.8 * r)}Z" ${body}/>`;
    }
    case 'torus': {
      // A ring: the paint goes on the stroke.
      const ring = o.material === 'glass' ? ' stroke-opacity="0.5"' : '';
      return `<circle cx="${f(cx)}" cy="${f(cy)}" r="${f(0.72 * r)}" fill="none" stroke="${p.fill}" stroke-width="${f(0.5 * r)}"${ring}/>`;
    }
    case 'pyramid':
      return `<polygon points="${f(cx)},${f(cy - r)} ${f(cx + r)},${f(cy + 0.85 * r)} ${f(cx - r)},${f(cy + 0.85 * r)}" ${body}/>`
        + `<line x1="${f(cx)}" y1="${f(cy - r)}" x2="${f(cx + 0.25 * r)}" y2="${f(cy + 0.85 * r)}" stroke="${p.rim}" stroke-width="1"/>`;
  }
}

export function drawScene(scene: Pick<Scene, 'objects'>, options: DrawOptions = {}): string {
  const width = options.width ?? 320;
  const height = options.height ?? 240;
  const prefix = options.idPrefix ?? 'scene';
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`drawScene: options.${name}: expected a positive number, got ${v}`);
  }
  if (!/^[A-Za-z][\w-]*$/.test(prefix)) throw new Error(`drawScene: options.idPrefix: expected a letter then letters, digits, _ or -, got ${JSON.stringify(prefix)}`);
  if (!Array.isArray(scene?.objects)) throw new Error(`drawScene: scene.objects: expected an array of objects, got ${JSON.stringify(scene?.objects)}`);
  scene.objects.forEach(check);

  const unit = Math.min(width, height);
  const metals = [...new Set(scene.objects.filter((o) => o.material === 'metal').map((o) => o.color))].sort() as Color[];
  const defs = metals.map((c) => {
    const hex = COLOR_HEX[c];
    return `<linearGradient id="${prefix}-metal-${c}" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${mix(hex, 255, 0.55)}"/>`
      + `<stop offset="0.45" stop-color="${hex}"/><stop offset="1" stop-color="${mix(hex, 0, 0.4)}"/></linearGradient>`;
  });
  const order = scene.objects.map((_, i) => i).sort((a, b) => scene.objects[a]!.y - scene.objects[b]!.y || a - b);
  const objects = order.map((i) => {
    const o = scene.objects[i]!;
    const r = (o.size === 'large' ? 0.085 : 0.05) * unit;
    const cx = o.x * width;
    const cy = o.y * height;
    const shadow = `<ellipse cx="${f(cx + 0.15 * r)}" cy="${f(cy + r)}" rx="${f(r)}" ry="${f(0.25 * r)}" fill="#000000" fill-opacity="0.12"/>`;
    const data = `data-index="${i}" data-color="${o.color}" data-shape="${o.shape}" data-size="${o.size}" data-material="${o.material}"`;
    return `<g class="object" ${data}>${shadow}${shapeElements(o, cx, cy, r, paint(o, prefix))}</g>`;
  });
  const title = scene.objects.map((o) => `${o.size} ${o.color} ${o.material} ${o.shape}`).join(', ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${f(width)}" height="${f(height)}" viewBox="0 0 ${f(width)} ${f(height)}" role="img">`
    + `<title>${title}</title>`
    + (defs.length > 0 ? `<defs>${defs.join('')}</defs>` : '')
    + `<rect width="${f(width)}" height="${f(height)}" fill="#e9e7e2"/>`
    + objects.join('')
    + '</svg>';
}
