// WGSL assembly: a header of `enable` directives chosen from the device's features, the
// launcher's compile-time constants, then one or more kernel files. Compile errors are mapped
// back to the file and line they came from.

export interface WgslPart {
  name: string; // e.g. 'kernels/naaf_score.wgsl'
  code: string;
}

export type WgslConstants = Record<string, number | boolean>;

export interface AssembledWgsl {
  code: string;
  /** Where each part starts in `code` (1-based line), for error messages. */
  lineMap: { name: string; firstLine: number; lineCount: number }[];
}

function constantDeclaration(name: string, value: number | boolean): string {
  if (typeof value === 'boolean') return `const ${name}: bool = ${value};`;
  if (!Number.isFinite(value)) throw new Error(`WGSL constant ${name} must be finite, got ${value}`);
  return Number.isInteger(value) && value >= 0 ? `const ${name}: u32 = ${value}u;` : `const ${name}: f32 = ${value};`;
}

export function assembleWgsl(enables: readonly string[], constants: WgslConstants, parts: readonly WgslPart[]): AssembledWgsl {
  const header = [
    // 'diagnostic(...)' entries are global diagnostic directives; the rest are extensions.
    ...enables.map((e) => (e.startsWith('diagnostic(') ? `${e};` : `enable ${e};`)),
    ...Object.entries(constants).map(([k, v]) => constantDeclaration(k, v)),
  ];
  const lines = [...header];
  const lineMap: AssembledWgsl['lineMap'] = [{ name: '<generated header>', firstLine: 1, lineCount: header.length }];
  for (const part of parts) {
    const partLines = part.code.split('\n');
    lineMap.push({ name: part.name, firstLine: lines.length + 1, lineCount: partLines.length });
    lines.push(...partLines);
  }
  return { code: lines.join('\n'), lineMap };
}

/** "kernels/x.wgsl:12:5" for a line of the assembled module. */
export function sourceLocation(assembled: AssembledWgsl, line: number, column: number): string {
  for (const part of assembled.lineMap) {
    if (line >= part.firstLine && line < part.firstLine + part.lineCount) {
      return `${part.name}:${line - part.firstLine + 1}:${column}`;
    }
  }
  return `<assembled>:${line}:${column}`;
}

export async function compileModule(device: GPUDevice, label: string, assembled: AssembledWgsl): Promise<GPUShaderModule> {
  // The scope is popped right away: other compiles may run meanwhile, and scopes are per device.
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label, code: assembled.code });
  const scope = device.popErrorScope();
  const info = await module.getCompilationInfo();
  const scopeError = await scope;
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const details = errors.map((m) => `  ${sourceLocation(assembled, m.lineNum, m.linePos)}: ${m.message}`).join('\n');
    throw new Error(`WGSL compile error in shader "${label}":\n${details}`);
  }
  if (scopeError) throw new Error(`WGSL compile error in shader "${label}": ${scopeError.message}`);
  return module;
}

/** How a runtime spells the subgroup-matrix builtins' layout: a bool argument, or a template argument. */
export type SubgroupMatrixSpelling = 'flag' | 'template';

/** The index just past the bracket that closes the one at `open` ('(' or '<'), tracking nesting. */
function closing(code: string, open: number): number {
  const pairs: Record<string, string> = { '(': ')', '<': '>' };
  const stack: string[] = [];
  for (let i = open; i < code.length; i++) {
    const c = code[i];
    if (c === '(' || c === '<') stack.push(pairs[c]);
    else if (c === ')' || c === '>') {
      if (stack.pop() !== c) throw new Error(`respellSubgroupMatrix: unbalanced brackets at offset ${i}`);
      if (stack.length === 0) return i + 1;
    }
  }
  throw new Error(`respellSubgroupMatrix: no closing bracket for offset ${open}`);
}

/** Top-level comma-separated arguments of the call whose '(' is at `open`. */
function callArguments(code: string, open: number): { args: string[]; end: number } {
  const end = closing(code, open);
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open + 1; i < end - 1; i++) {
    const c = code[i];
    if (c === '(' || c === '<') depth++;
    else if (c === ')' || c === '>') depth--;
    else if (c === ',' && depth === 0) {
      args.push(code.slice(start, i).trim());
      start = i + 1;
    }
  }
  args.push(code.slice(start, end - 1).trim());
  return { args, end };
}

/**
 * Rewrites kernels written in the flag spelling of the subgroup-matrix builtins,
 *   subgroupMatrixLoad<T>(p, offset, colMajor, stride), subgroupMatrixStore(p, offset, m, colMajor, stride),
 * into the template spelling of newer runtimes,
 *   subgroupMatrixLoad<T, col_major|row_major>(p, offset, stride), subgroupMatrixStore<...>(p, offset, m, stride).
 * The layout argument must be the literal true or false; arguments must not contain the < or >
 * operators; comments are left as they are.
 */
export function respellSubgroupMatrix(code: string): string {
  // Line by line, comments left alone (a call must fit on its line).
  return code.split('\n').map((line) => {
    const comment = line.indexOf('//');
    return comment < 0 ? respellLine(line) : respellLine(line.slice(0, comment)) + line.slice(comment);
  }).join('\n');
}

function respellLine(code: string): string {
  let out = '';
  let i = 0;
  const layout = (flag: string) => {
    if (flag !== 'true' && flag !== 'false') throw new Error(`respellSubgroupMatrix: the layout argument must be true or false, got "${flag}"`);
    return flag === 'true' ? 'col_major' : 'row_major';
  };
  for (;;) {
    const load = code.indexOf('subgroupMatrixLoad<', i);
    const store = code.indexOf('subgroupMatrixStore(', i);
    const next = [load, store].filter((x) => x >= 0).sort((a, b) => a - b)[0];
    if (next === undefined) return out + code.slice(i);
    out += code.slice(i, next);
    if (next === load) {
      const typeOpen = next + 'subgroupMatrixLoad'.length;
      const typeEnd = closing(code, typeOpen);
      const type = code.slice(typeOpen + 1, typeEnd - 1);
      const { args, end } = callArguments(code, typeEnd);
      if (args.length !== 4) throw new Error(`respellSubgroupMatrix: subgroupMatrixLoad takes 4 arguments in the flag spelling, got ${args.length}`);
      out += `subgroupMatrixLoad<${type}, ${layout(args[2])}>(${args[0]}, ${args[1]}, ${args[3]})`;
      i = end;
    } else {
      const { args, end } = callArguments(code, next + 'subgroupMatrixStore'.length);
      if (args.length !== 5) throw new Error(`respellSubgroupMatrix: subgroupMatrixStore takes 5 arguments in the flag spelling, got ${args.length}`);
      out += `subgroupMatrixStore<${layout(args[3])}>(${args[0]}, ${args[1]}, ${args[2]}, ${args[4]})`;
      i = end;
    }
  }
}
