// The code every WASM thread runs, as text (a worker is started from a string: nothing to
// resolve or fetch in Node, Deno or a browser). The platform prepends how this runtime posts and
// receives (`post`, `listen`). A worker instantiates the kernels' module on each shared memory
// it is given, with a stack of its own, then runs kernels on request: items [begin, end) are
// claimed in chunks from a shared counter, so threads that finish early take more, and every
// item is computed the same way whichever thread takes it.

export const WORKER_SOURCE = `
let module = null;
const heaps = new Map();
listen((message) => {
  try {
    if (message.type === 'init') {
      module = message.module;
      post({ type: 'ready' });
    } else if (message.type === 'attach') {
      const instance = new WebAssembly.Instance(module, { env: { memory: message.memory } });
      instance.exports.__stack_pointer.value = message.stackTop;
      heaps.set(message.heap, { instance, memory: message.memory });
      post({ type: 'attached', heap: message.heap });
    } else if (message.type === 'detach') {
      heaps.delete(message.heap);
    } else if (message.type === 'run') {
      const heap = heaps.get(message.heap);
      const kernel = heap.instance.exports[message.kernel];
      const counter = new Int32Array(heap.memory.buffer, message.counter, 1);
      const { args, scratch, total, chunk } = message;
      for (;;) {
        const begin = Atomics.add(counter, 0, chunk);
        if (begin >= total) break;
        kernel(args, scratch, begin, Math.min(total, begin + chunk));
      }
      post({ type: 'done', id: message.id });
    }
  } catch (error) {
    post({ type: 'error', id: message.id ?? 0, message: String(error && error.message || error) });
  }
});
`;
