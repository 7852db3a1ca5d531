// What a compute pipeline binds, read off its assembled WGSL: storage and uniform buffers (the
// declared bindings of group 0) and workgroup bytes (every var<workgroup>, sized with the
// launcher's constants, laid out as WGSL does). ctx.pipeline() checks these against the device
// before Dawn does, so a shortfall names the kernel and the limit; the engine's REQUIRED_LIMITS
// are the most any of its pipelines binds (tested against every pipeline the tests compile).

export interface PipelineResources {
  storageBuffers: number;
  uniformBuffers: number;
  workgroupBytes: number;
  /** Invocations per workgroup (the product of @workgroup_size). */
  invocations: number;
}

interface Layout { size: number; align: number }

const SCALARS: Record<string, number> = { f32: 4, u32: 4, i32: 4, f16: 2, bool: 4 };

/** Evaluates an array count: integer literals (1, 4u), constants, + - * / and parentheses. */
export function evaluateCount(expr: string, constants: Record<string, number | boolean>): number {
  const tokens = expr.match(/[A-Za-z_][A-Za-z0-9_]*|\d+u?|[()+\-*/]/g) ?? [];
  let i = 0;
  const primary = (): number => {
    const t = tokens[i++];
    if (t === '(') {
      const v = sum();
      if (tokens[i++] !== ')') throw new Error(`workgroup array size "${expr}": unbalanced parentheses`);
      return v;
    }
    if (t === undefined) throw new Error(`workgroup array size "${expr}": unexpected end`);
    if (/^\d/.test(t)) return parseInt(t, 10);
    const value = constants[t];
    if (typeof value !== 'number') throw new Error(`workgroup array size "${expr}": unknown constant ${t}`);
    return value;
  };
  const product = (): number => {
    let v = primary();
    while (tokens[i] === '*' || tokens[i] === '/') {
      const op = tokens[i++];
      const rhs = primary();
      v = op === '*' ? v * rhs : Math.floor(v / rhs); // u32 division
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[i] === '+' || tokens[i] === '-') {
      const op = tokens[i++];
      const rhs = product();
      v = op === '+' ? v + rhs : v - rhs;
    }
    return v;
  };
  const value = sum();
  if (i !== tokens.length) throw new Error(`workgroup array size "${expr}": cannot read "${tokens.slice(i).join(' ')}"`);
  return value;
}

/** Size and alignment of a WGSL type as laid out in the workgroup address space (aliases resolved). */
function typeLayout(type: string, constants: Record<string, number | boolean>, aliases: Record<string, string>): Layout {
  const t = type.trim();
  if (aliases[t]) return typeLayout(aliases[t], constants, aliases);
  if (SCALARS[t]) return { size: SCALARS[t], align: SCALARS[t] };
  const atomic = /^atomic<(.+)>$/.exec(t);
  if (atomic) return typeLayout(atomic[1], constants, aliases);
  const vec = /^vec([234])(?:<(.+)>|([fiuh]))$/.exec(t);
  if (vec) {
    const n = Number(vec[1]);
    const element = vec[2] ? typeLayout(vec[2], constants, aliases).size : vec[3] === 'h' ? 2 : 4;
    const align = (n === 3 ? 4 : n) * element;
    return { size: n * element, align };
  }
  const array = /^array<(.+),([^,]+)>$/.exec(t);
  if (array) {
    const element = typeLayout(array[1], constants, aliases);
    const stride = Math.ceil(element.size / element.align) * element.align;
    return { size: stride * evaluateCount(array[2], constants), align: element.align };
  }
  throw new Error(`cannot size the workgroup type "${t}"`);
}

/** The resources a module's entry point may bind: every declaration counts (an upper bound of what the auto layout keeps). */
export function pipelineResources(code: string, constants: Record<string, number | boolean>): PipelineResources {
  const source = code.replace(/\/\/[^\n]*/g, '');
  const aliases: Record<string, string> = {};
  // The kernels' own integer constants (const TM: u32 = 64u;) size arrays too.
  const known: Record<string, number | boolean> = { ...constants };
  for (const m of source.matchAll(/\bconst\s+([A-Za-z_]\w*)\s*(?::\s*[iu]32\s*)?=\s*(\d+)[iu]?\s*;/g)) known[m[1]] ??= parseInt(m[2], 10);
  for (const m of source.matchAll(/\balias\s+([A-Za-z_]\w*)\s*=\s*([^;]+);/g)) aliases[m[1]] = m[2].trim();
  const storageBuffers = [...source.matchAll(/@binding\(\d+\)\s*var<storage\b/g)].length;
  const uniformBuffers = [...source.matchAll(/@binding\(\d+\)\s*var<uniform>/g)].length;
  let workgroupBytes = 0;
  for (const m of source.matchAll(/var<workgroup>\s*[A-Za-z_]\w*\s*:\s*([^;]+);/g)) {
    const layout = typeLayout(m[1], known, aliases);
    // Each variable starts at its alignment; Dawn rounds each to 16 bytes when it counts the limit.
    workgroupBytes += Math.ceil(layout.size / 16) * 16;
  }
  const size = /@workgroup_size\(([^)]*)\)/.exec(source);
  const invocations = size ? size[1].split(',').map((e) => evaluateCount(e, known)).reduce((a, b) => a * b, 1) : 1;
  return { storageBuffers, uniformBuffers, workgroupBytes, invocations };
}
