// One engine per test file: Dawn is slow to start on lavapipe, and its GPU object must stay
// referenced while the device lives (the engine holds it).
import { afterAll } from 'vitest';
import { NaafEngine } from '../src/index.js';
import type { EngineOptions } from '../src/index.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

/** Dawn flags for every test engine, ';'-separated (a GPU run: NAAF_TEST_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis). */
export const TEST_DAWN_FLAGS = (process.env.NAAF_TEST_DAWN_FLAGS ?? '').split(';').filter((f) => f.length > 0);

/**
 * Every pipeline variant (tiles, toggles, kernel x precision combinations): `npm run test:gpu`
 * sets it. `npm test` on lavapipe runs a covering subset, since each variant is a pipeline that
 * lavapipe JIT-compiles for seconds and CI must stay within its time.
 */
export const ALL_VARIANTS = process.env.NAAF_TEST_ALL_VARIANTS === '1';

export async function sharedEngine(options: EngineOptions = {}): Promise<NaafEngine> {
  const engine = await NaafEngine.create({ ...options, dawnFlags: [...TEST_DAWN_FLAGS, ...(options.dawnFlags ?? [])] });
  afterAll(() => engine.destroy());
  return engine;
}
