// `npm run test:gpu`: the tests whose results depend on the device (kernels, limits, galleries,
// training steps), for a run on a real GPU; the CPU-only and other-runtime tests (io, data,
// scenes, report, serve, search, browser, Deno, the main job) are left to `npm test`.
// NAAF_TEST_DAWN_FLAGS passes Dawn flags to every test engine (';'-separated), e.g.
// enable-dawn-features=allow_unsafe_apis to exercise the int8 tensor cores where there are any.
import { defineConfig } from 'vitest/config';
import base from './vitest.config';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    env: { ...base.test?.env, NAAF_TEST_ALL_VARIANTS: '1' }, // every tile, toggle and kernel x precision variant (test/gpu.ts)
    include: ['test/ops/**/*.test.ts', 'test/gpu/**/*.test.ts', 'test/gallery/**/*.test.ts', 'test/train/trainer.test.ts', 'test/model/**/*.test.ts'],
  },
});
