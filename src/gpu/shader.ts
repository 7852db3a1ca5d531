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
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label, code: assembled.code });
  const info = await module.getCompilationInfo();
  const scopeError = await device.popErrorScope();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const details = errors.map((m) => `  ${sourceLocation(assembled, m.lineNum, m.linePos)}: ${m.message}`).join('\n');
    throw new Error(`WGSL compile error in shader "${label}":\n${details}`);
  }
  if (scopeError) throw new Error(`WGSL compile error in shader "${label}": ${scopeError.message}`);
  return module;
}
