// CPU-backend engines for the tests: one per options per test file, destroyed after it.
import { afterAll } from 'vitest';
import { NaafEngine } from '../../src/index.js';
import type { EngineOptions } from '../../src/index.js';

export async function wasmEngine(options: EngineOptions = {}): Promise<NaafEngine> {
  const engine = await NaafEngine.create({ backend: 'wasm', ...options });
  afterAll(() => engine.destroy());
  return engine;
}
