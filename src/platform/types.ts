// What differs between runtimes, behind one interface: the file system and path helpers (Node,
// Deno) and Dawn (Node). src/platform/index.ts is the Node/Deno implementation; the browser
// bundle replaces it with src/platform/browser.ts at build time (build.mjs), so the browser
// bundle never mentions `webgpu` or a `node:` module.

export interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

export interface Platform {
  name: 'node' | 'browser';
  /** node:fs/promises, or an Error saying a file system is needed (with what to pass instead). */
  fs(what: string): Promise<typeof import('node:fs/promises')>;
  /** node:path, likewise. */
  path(what: string): Promise<typeof import('node:path')>;
  /** Dawn through the npm package `webgpu`, or null where there is none (a browser). */
  dawn(): Promise<DawnModule | null>;
  /** A temporary-file suffix unique to this process (atomic writes). */
  tempSuffix(): string;
  /** A thread running `source` (src/wasm/workerSource.ts), which finds `post` and `listen` defined. */
  startWorker(source: string): Promise<WorkerHandle>;
  /** How many threads the machine runs at once. */
  parallelism(): Promise<number>;
}

/** A worker thread as the WASM thread pool sees it, whatever the runtime's own API. */
export interface WorkerHandle {
  post(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  onError(listener: (error: Error) => void): void;
  /** Whether the thread keeps the process alive (Node): on while it has work. */
  hold(held: boolean): void;
  terminate(): void;
}
