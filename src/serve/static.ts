// A small static file server for the report and its live page (node:http, no dependency):
// GET/HEAD only, files under one root (no path escapes, no dot-files, no symlinks out), a
// directory serves its index.html, and every reply says what it is (MIME type, length).
// Pages get no-store so a rebuilt report is never mixed with a cached bundle, and every reply
// makes the page cross-origin isolated (COOP same-origin, COEP require-corp; CORP same-origin on
// each file), which a browser requires before it lends SharedArrayBuffer to the CPU backend's
// WASM threads.
import { open, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream';

/** Cross-origin isolation (the CPU backend's threads need it): on every reply. */
export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
} as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.map': 'application/json', '.css': 'text/css; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.npy': 'application/octet-stream', '.safetensors': 'application/octet-stream',
  '.tar': 'application/octet-stream',
};

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), 'x-content-type-options': 'nosniff', ...ISOLATION_HEADERS });
  res.end(text);
}

/**
 * The path's segments, decoded, with empty ones (repeated or encoded slashes) dropped; null for
 * a path that is not plainly one of ours: undecodable, a dot segment or dot-file, a backslash
 * (a separator to some browsers and to Windows), a control character (tab, newline, NUL).
 */
export function pathSegments(urlPath: string): string[] | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(decoded)) return null;
  const parts = decoded.split('/').filter((p) => p !== '');
  return parts.some((p) => p.startsWith('.')) ? null : parts;
}

/**
 * The canonical URL path of a folder: one slash, each segment encoded, a trailing slash. It never
 * starts with `//` or `/\`, which a browser would read as another host (`//live/` is http://live/).
 */
export function folderLocation(parts: readonly string[]): string {
  return parts.length === 0 ? '/' : `/${parts.map(encodeURIComponent).join('/')}/`;
}

/** The file `urlPath` names under `root`, or null when it names nothing servable. */
export async function resolveUnder(root: string, urlPath: string): Promise<string | null> {
  const parts = pathSegments(urlPath);
  if (!parts) return null;
  let path = join(root, ...parts);
  try {
    let info = await stat(path);
    if (info.isDirectory()) {
      path = join(path, 'index.html');
      info = await stat(path);
    }
    if (!info.isFile()) return null;
    const real = await realpath(path);
    return real === root || real.startsWith(root + sep) ? real : null;
  } catch {
    return null;
  }
}

/** A server for the files under `dir` (not listening yet). */
export async function createStaticServer(dir: string): Promise<Server> {
  const root = await realpath(resolve(dir)).catch(() => {
    throw new Error(`serve: ${resolve(dir)} does not exist (run \`npm start\` to write the report first)`);
  });
  if (!(await stat(root)).isDirectory()) throw new Error(`serve: ${root} is not a directory`);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      reply(res, 405, 'method not allowed\n');
      return;
    }
    // The path as sent (origin form only): parsing it as a URL would read `//x/y` as host x.
    const urlPath = (req.url ?? '/').split(/[?#]/)[0]!;
    if (!urlPath.startsWith('/')) {
      reply(res, 400, 'bad request: expected a path\n');
      return;
    }
    void resolveUnder(root, urlPath).then(async (file) => {
      if (!file) {
        reply(res, 404, `not found: ${urlPath}\n`);
        return;
      }
      // A directory without a trailing slash: redirect, so the page's relative URLs resolve inside
      // it, to its canonical path (never the path as sent: `//live` + `/` is another host's URL).
      if (!urlPath.endsWith('/') && file.endsWith(`${sep}index.html`) && !urlPath.endsWith('index.html')) {
        res.writeHead(301, { location: folderLocation(pathSegments(urlPath)!), ...ISOLATION_HEADERS });
        res.end();
        return;
      }
      // Size and bytes from one open file, even if the folder is swapped meanwhile.
      const handle = await open(file);
      let size: number;
      try {
        size = (await handle.stat()).size;
      } catch (error) {
        await handle.close();
        throw error;
      }
      res.writeHead(200, {
        'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': String(size),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        ...ISOLATION_HEADERS,
      });
      if (req.method === 'HEAD') {
        await handle.close();
        res.end();
        return;
      }
      // pipeline closes the file when the client goes away mid-download.
      pipeline(handle.createReadStream(), res, () => {});
    }).catch(() => {
      if (!res.headersSent) reply(res, 500, 'cannot read the file\n');
      else res.destroy();
    });
  });
}

/** Listens on host:port (port 0: any free one) and resolves to the port it got. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((done, fail) => {
    const onError = (error: NodeJS.ErrnoException) => {
      fail(error.code === 'EADDRINUSE'
        ? new Error(`serve: port ${port} on ${host} is in use; choose another with --port`)
        : new Error(`serve: cannot listen on ${host}:${port}: ${error.message}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      done(typeof address === 'object' && address ? address.port : port);
    });
  });
}
