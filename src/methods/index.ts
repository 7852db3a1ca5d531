// The method registry: every similarity method, by name. A new method is one file here (its
// MethodSpec), its WGSL epilogues and float64 reference, and one entry below.
import { describeValue } from './describe.js';
import { chan } from './chan.js';
import { naaf } from './naaf.js';
import { scanI2t, scanT2i } from './scan.js';
import type { BackwardMethod, MethodSpec, ScoreMethod } from './types.js';

export type { BackwardMethod, MethodFields, MethodSpec, ScoreFlags, ScoreMethod } from './types.js';

const REGISTRY: readonly MethodSpec[] = [naaf, scanT2i, scanI2t, chan];

/** Every registered method's name, in registration order. */
export function methodNames(): ScoreMethod[] {
  return REGISTRY.map((m) => m.name);
}

/** "'naaf', 'scan-t2i' or 'scan-i2t'" (quoted), or "naaf, scan-t2i or scan-i2t" for a CLI. */
export function methodList(quoted = true): string {
  const names = methodNames().map((n) => (quoted ? `'${n}'` : n));
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
}

export function isMethod(name: unknown): name is ScoreMethod {
  return REGISTRY.some((m) => m.name === name);
}

/** The method called `name`; else an error from `what` naming `argument`, the registered methods and the value given. */
export function methodSpec(name: unknown, what = 'similarity', argument = 'options.method', quoted = true): MethodSpec {
  const spec = REGISTRY.find((m) => m.name === name);
  if (!spec) throw new Error(`${what}: ${argument} must be ${methodList(quoted)}, got ${quoted ? describeValue(name) : String(name)}`);
  return spec;
}

/** The method whose training path runs the backward kernels of `backward`. */
export function methodOfBackward(backward: BackwardMethod): MethodSpec {
  const spec = REGISTRY.find((m) => m.backward === backward);
  if (!spec) throw new Error(`scoreBackward: args.method must be ${REGISTRY.map((m) => `'${m.backward}'`).join(', ').replace(/, ([^,]*)$/, ' or $1')}, got ${describeValue(backward)}`);
  return spec;
}

/** The backward methods' names (args.method of scoreBackward). */
export function backwardNames(): BackwardMethod[] {
  return REGISTRY.map((m) => m.backward);
}

/** "--method naaf|scan-t2i|scan-i2t" and one help line per method, for the CLIs' usage. */
export function methodUsage(): { flag: string; lines: string[] } {
  const training = (m: MethodSpec) => `    trains by default at lr ${m.training.learningRate}, margin ${m.training.margin ?? 0.2}, ` +
    `${m.training.warmupEpochs ?? 0} warm-up epoch(s) of summed violations, lr x0.1 every ${m.training.lrUpdate ?? 10} epochs`;
  return { flag: `--method ${methodNames().join('|')}`, lines: REGISTRY.flatMap((m) => [`  ${m.help}`, training(m)]) };
}

/** Whether the method learns its threshold while training (NAAF's mismatch mining): the checkpoint then carries thres_safe. */
export function learnsThreshold(method: ScoreMethod): boolean {
  return methodSpec(method).training.forward === 'naaf-mining';
}
