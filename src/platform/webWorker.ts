// Workers through the web's Worker API (browsers and Deno), for the WASM thread pool.
import type { WorkerHandle } from './types.js';

/** A Web Worker from a Blob URL (browsers, Deno). */
export function webWorker(source: string): WorkerHandle {
  const preamble = 'const post = (m) => self.postMessage(m); const listen = (f) => { self.onmessage = (e) => f(e.data); };\n';
  const url = URL.createObjectURL(new Blob([preamble + source], { type: 'text/javascript' }));
  const worker = new Worker(url, { type: 'module' });
  URL.revokeObjectURL(url);
  return {
    post: (message) => worker.postMessage(message),
    onMessage: (listener) => worker.addEventListener('message', (event) => listener((event as MessageEvent).data)),
    onError: (listener) => worker.addEventListener('error', (event) => {
      (event as Event).preventDefault?.();
      listener(new Error((event as ErrorEvent).message || 'worker failed'));
    }),
    hold: () => {},
    terminate: () => worker.terminate(),
  };
}
