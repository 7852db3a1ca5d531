// The report server (`naaf serve`): files under its root with their types, directory index and
// redirect, HEAD, and nothing outside the root (.., encoded .., dot-files, symlinks out), and no
// redirect a browser could read as another host (`//live` -> `//live/` is http://live/).
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStaticServer, listen } from '../../src/serve/static.js';

let server: Server;
let base: string;
const outside = mkdtempSync(join(tmpdir(), 'naaf-outside-'));
const root = mkdtempSync(join(tmpdir(), 'naaf-serve-'));

beforeAll(async () => {
  writeFileSync(join(root, 'index.html'), '<p>report</p>');
  mkdirSync(join(root, 'live'));
  writeFileSync(join(root, 'live', 'index.html'), '<p>live</p>');
  writeFileSync(join(root, 'live', 'app.js'), 'export {};');
  writeFileSync(join(root, 'live', 'test_ims.npy'), new Uint8Array([0x93, 1, 2]));
  mkdirSync(join(root, 'evil.com'));
  writeFileSync(join(root, 'evil.com', 'index.html'), '<p>a folder named like a host</p>');
  writeFileSync(join(root, '.secret'), 'no');
  writeFileSync(join(outside, 'secret.txt'), 'no');
  symlinkSync(join(outside, 'secret.txt'), join(root, 'link.txt'));
  server = await createStaticServer(root);
  base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
});
afterAll(() => {
  server?.closeAllConnections();
  server?.close();
});

it('serves files with their types, and a folder as its index.html', async () => {
  const page = await fetch(`${base}/live/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  // Cross-origin isolated: the CPU backend's WASM threads need SharedArrayBuffer.
  expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
  expect(await page.text()).toBe('<p>live</p>');
  const script = await fetch(`${base}/live/app.js`);
  expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  const npy = await fetch(`${base}/live/test_ims.npy`);
  expect(npy.headers.get('content-length')).toBe('3');
  expect(new Uint8Array(await npy.arrayBuffer())).toEqual(new Uint8Array([0x93, 1, 2]));
  expect(await (await fetch(`${base}/`)).text()).toBe('<p>report</p>');
});

it('redirects a folder without its slash, so relative URLs resolve inside it', async () => {
  const r = await fetch(`${base}/live`, { redirect: 'manual' });
  expect(r.status).toBe(301);
  expect(r.headers.get('location')).toBe('/live/');
});

it('answers HEAD without a body and refuses other methods', async () => {
  const head = await fetch(`${base}/live/app.js`, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(head.headers.get('content-length')).toBe('10');
  const post = await fetch(`${base}/live/app.js`, { method: 'POST', body: 'x' });
  expect(post.status).toBe(405);
  expect(post.headers.get('allow')).toBe('GET, HEAD');
});

/** A raw request: the path goes out exactly as written (fetch would normalise `..` away). */
function raw(path: string): Promise<number> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port: Number(new URL(base).port), path, method: 'GET' }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on('error', fail);
    req.end();
  });
}

it('serves nothing outside its root, no dot-files and no missing files, and survives odd paths', async () => {
  const away = basename(outside);
  // Each of these would reach secret.txt if the checks were missing.
  for (const path of [`/../${away}/secret.txt`, `/%2e%2e/${away}/secret.txt`, `/..%2f${away}%2fsecret.txt`, `/live/..%2f..%2f${away}%2fsecret.txt`, '/link.txt', '/.secret', '/missing.js', '/bad%zz']) {
    expect(await raw(path), path).toBe(404);
  }
  expect(await raw('//live/app.js')).toBe(200); // a path, not a host: served from the root's live/
  expect(await raw('http://[')).toBe(400);
  expect(await raw('*')).toBe(400);
  expect((await fetch(`${base}/live/app.js`)).status).toBe(200); // still serving
});

/** Status and Location of a request line sent byte for byte (node:http refuses tabs and newlines in a path). */
function rawLine(path: string): Promise<{ status: number; location: string | null }> {
  return new Promise((done, fail) => {
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => { text += chunk.toString('latin1'); });
    socket.on('error', fail);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      done({ status, location: /\r\nlocation: ([^\r]*)\r\n/i.exec(text)?.[1] ?? null });
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

it('never redirects to another host: every Location is one slash and a path on this server', async () => {
  const variants = ['//live', '///live', '////live', '/\\live', '/\\/live', '//\\live', '/%2F/live', '/%2f%2flive', '/%2F%2Flive', '//%2F/live', '/%5Clive',
    '/%5C%5Clive', '/%5C/live', '/live%2F', '//live?x=1', '//live#x', '/./live', '/%2e/live', '/%09/live', '/%0a/live', '/%0d%0a/live', '/\t/live',
    '//evil.com', '///evil.com', '/%2F/evil.com', '/%2Fevil.com', '//evil.com/', '/evil.com', '/%2F', '//%2F', '/live//', '//live//'];
  const seen: Record<string, string | null> = {};
  for (const path of variants) {
    const { status, location } = await rawLine(path);
    seen[path] = location;
    expect([200, 301, 400, 404], path).toContain(status);
    if (location === null) continue;
    expect(status, path).toBe(301);
    // One slash, then neither a slash nor a backslash (no protocol-relative URL), no scheme, no control character.
    expect(location, path).toMatch(/^\/(?![\/\\])[^\s\\]*$/);
    expect(new URL(location, base).host, path).toBe(new URL(base).host);
  }
  // The folders are still found, at their canonical paths.
  expect(seen['//live']).toBe('/live/');
  expect(seen['/%2F/live']).toBe('/live/');
  expect(seen['//evil.com']).toBe('/evil.com/');
  expect(seen['/%2F']).toBe('/');
  expect(seen['/evil.com']).toBe('/evil.com/');
  expect(await rawLine('/live/')).toEqual({ status: 200, location: null });
});

it('names a missing folder and a port in use', async () => {
  await expect(createStaticServer(join(root, 'nope'))).rejects.toThrow(/does not exist \(run `npm start`/);
  const port = Number(new URL(base).port);
  const other = await createStaticServer(root);
  await expect(listen(other, port, '127.0.0.1')).rejects.toThrow(`port ${port} on 127.0.0.1 is in use; choose another with --port`);
});

it('200 parallel downloads are byte-identical, and clients that hang up mid-download leak no file handles', async () => {
  const { readdirSync } = await import('node:fs');
  const big = new Uint8Array(2 ** 20).map((_, i) => (i * 2654435761) >>> 24);
  writeFileSync(join(root, 'live', 'big.npy'), big);
  const bodies = await Promise.all(Array.from({ length: 200 }, async () => new Uint8Array(await (await fetch(`${base}/live/big.npy`)).arrayBuffer())));
  for (const body of bodies) expect(Buffer.compare(body, big)).toBe(0);
  const openFiles = () => readdirSync('/proc/self/fd').length;
  await new Promise((resolve) => setTimeout(resolve, 100));
  const before = openFiles();
  // Each client reads a little of the body, then destroys its socket.
  await Promise.all(Array.from({ length: 20 }, () => new Promise<void>((resolve) => {
    const req = request(`${base}/live/big.npy`, (res) => {
      res.once('data', () => { req.destroy(); resolve(); });
    });
    req.on('error', () => resolve());
    req.end();
  })));
  for (let i = 0; i < 50 && openFiles() > before; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(openFiles()).toBeLessThanOrEqual(before);
});
