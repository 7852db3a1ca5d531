// The same engine inside a Web Worker: the page posts a batch, the worker answers its scores.
import { NaafEngine } from '/browser.js';

self.onmessage = async (event) => {
  try {
    const { images, captions, options, engineOptions } = event.data;
    const engine = await NaafEngine.create(engineOptions ?? { backend: 'webgpu' });
    const sims = await engine.similarity(images, captions, options);
    self.postMessage({ sims: Array.from(sims), runtime: engine.info.runtime, line: engine.describe(), inWorker: typeof document === 'undefined' });
    engine.destroy();
  } catch (error) {
    self.postMessage({ error: String(error?.stack ?? error) });
  }
};
