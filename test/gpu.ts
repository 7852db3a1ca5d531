// One engine per test file: Dawn is slow to start on lavapipe, and its GPU object must stay
// referenced while the device lives (the engine holds it).
import { afterAll } from 'vitest';
import { NaafEngine } from '../src/index.js';
import type { EngineOptions } from '../src/index.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

export async function sharedEngine(options: EngineOptions = {}): Promise<NaafEngine> {
  const engine = await NaafEngine.create(options);
  afterAll(() => engine.destroy());
  return engine;
}
