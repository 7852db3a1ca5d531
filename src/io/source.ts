// Bytes from wherever a model or a feature file comes from: a path (Node, Deno), a URL (string
// or URL: fetched, streamed), a Response, an ArrayBuffer or a typed array; with byte progress,
// cancellation, and clear errors for an HTTP error, a truncated body or a body past a bound.
import { platform } from '../platform/index.js';

/** Where bytes come from. A string is a URL where it has a scheme (or in a browser), else a file path. */
export type ByteSource = string | URL | Response | ArrayBuffer | ArrayBufferView;

export interface ReadProgress {
  loaded: number; // bytes received so far
  total: number | null; // the declared length (Content-Length), null when unknown
}

export interface ReadSourceOptions {
  /** Called as bytes arrive (at least once, at the end). */
  onProgress?: (progress: ReadProgress) => void;
  /** Aborts the download (or the file read): the call rejects with an Error named 'AbortError'. */
  signal?: AbortSignal;
  /** Refuse a body larger than this, before reading it where its length is declared (default 4 GiB). */
  maxBytes?: number;
}

export const DEFAULT_MAX_SOURCE_BYTES = 4 * 2 ** 30;

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

function onServer(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown };
  return !!g.process?.versions?.node || !!g.Deno;
}

function aborted(what: string, signal: AbortSignal): Error {
  const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
  const error = new Error(`${what}: cancelled${reason}`);
  error.name = 'AbortError';
  return error;
}

/** A short name of the source for messages. */
export function describeSource(source: ByteSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  if (typeof Response !== 'undefined' && source instanceof Response) return source.url || 'the given Response';
  return 'the given bytes';
}

/** The bytes of `source`, checked and bounded; `what` names the caller in errors ("loadModel"). */
export async function readSource(source: ByteSource, what: string, options: ReadSourceOptions = {}): Promise<{ bytes: Uint8Array; name: string }> {
  const { signal, onProgress } = options;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_SOURCE_BYTES;
  if (signal?.aborted) throw aborted(what, signal);
  if (source instanceof ArrayBuffer) return done({ bytes: new Uint8Array(source), name: 'the given bytes' }, onProgress);
  if (ArrayBuffer.isView(source)) {
    return done({ bytes: new Uint8Array(source.buffer, source.byteOffset, source.byteLength), name: 'the given bytes' }, onProgress);
  }
  if (typeof Response !== 'undefined' && source instanceof Response) return readResponse(source, describeSource(source), what, options, maxBytes);
  let url: URL | null = null;
  if (source instanceof URL) url = source;
  else if (typeof source === 'string' && (SCHEME.test(source) || !onServer())) url = new URL(source, (globalThis as { location?: { href: string } }).location?.href);
  else if (typeof source !== 'string') {
    throw new Error(`${what}: source must be a path, a URL, a Response, an ArrayBuffer or a typed array, got ${Object.prototype.toString.call(source)}`);
  }
  if (url && url.protocol !== 'file:') {
    let response: Response;
    try {
      response = await fetch(url, { signal });
    } catch (error) {
      if (signal?.aborted) throw aborted(what, signal);
      throw new Error(`${what}: cannot fetch ${url.href}: ${(error as Error).message}`);
    }
    return readResponse(response, url.href, what, options, maxBytes);
  }
  // A file (path or file: URL), on a runtime with a file system.
  const path = url ? decodeURIComponent(url.pathname) : (source as string);
  const fs = await platform.fs(`${what}(${path})`);
  try {
    const { size } = await fs.stat(path);
    if (size > maxBytes) throw new Error(`is ${size} bytes, more than the ${maxBytes} allowed (options.maxBytes)`);
    const bytes = new Uint8Array(await fs.readFile(path, { signal }));
    return done({ bytes, name: path }, onProgress);
  } catch (error) {
    if (signal?.aborted) throw aborted(what, signal);
    throw new Error(`${what}: cannot read ${path}: ${(error as Error).message}`);
  }
}

function done(result: { bytes: Uint8Array; name: string }, onProgress?: (p: ReadProgress) => void) {
  onProgress?.({ loaded: result.bytes.byteLength, total: result.bytes.byteLength });
  return result;
}

async function readResponse(response: Response, name: string, what: string, options: ReadSourceOptions, maxBytes: number): Promise<{ bytes: Uint8Array; name: string }> {
  const { signal, onProgress } = options;
  if (!response.ok) throw new Error(`${what}: ${name} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  const header = response.headers.get('content-length');
  // A compressed transfer's Content-Length counts the encoded bytes, not what the body yields.
  const encoded = !!response.headers.get('content-encoding') && response.headers.get('content-encoding') !== 'identity';
  const total = header !== null && !encoded && /^\d+$/.test(header) ? Number(header) : null;
  if (total !== null && total > maxBytes) throw new Error(`${what}: ${name} is ${total} bytes, more than the ${maxBytes} allowed (options.maxBytes)`);
  if (!response.body) return done({ bytes: new Uint8Array(await response.arrayBuffer()), name }, onProgress);
  const reader = response.body.getReader();
  const onAbort = () => { reader.cancel().catch(() => {}); };
  signal?.addEventListener('abort', onAbort);
  let buffer = new Uint8Array(total ?? 64 * 1024);
  let loaded = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) throw aborted(what, signal);
        throw new Error(`${what}: ${name}: the download failed after ${loaded} bytes${total !== null ? ` of ${total}` : ''}: ${(error as Error).message}`);
      }
      if (signal?.aborted) throw aborted(what, signal);
      if (chunk.done) break;
      const value = chunk.value;
      if (loaded + value.byteLength > (total ?? maxBytes)) {
        await reader.cancel();
        throw new Error(total !== null
          ? `${what}: ${name} sent more than the ${total} bytes its Content-Length declares`
          : `${what}: ${name} is larger than the ${maxBytes} bytes allowed (options.maxBytes)`);
      }
      if (loaded + value.byteLength > buffer.byteLength) {
        const grown = new Uint8Array(Math.min(maxBytes, Math.max(2 * buffer.byteLength, loaded + value.byteLength)));
        grown.set(buffer.subarray(0, loaded));
        buffer = grown;
      }
      buffer.set(value, loaded);
      loaded += value.byteLength;
      onProgress?.({ loaded, total });
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (total !== null && loaded !== total) throw new Error(`${what}: ${name} is truncated: received ${loaded} of the ${total} bytes its Content-Length declares`);
  onProgress?.({ loaded, total: total ?? loaded });
  return { bytes: buffer.subarray(0, loaded), name };
}
