// The report server (`naaf serve`): files under its root with their types, directory index and
// redirect, HEAD, and nothing outside the root (.., encoded .., dot-files, symlinks out).
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

it('names a missing folder and a port in use', async () => {
  await expect(createStaticServer(join(root, 'nope'))).rejects.toThrow(/does not exist \(run `npm start`/);
  const port = Number(new URL(base).port);
  const other = await createStaticServer(root);
  await expect(listen(other, port, '127.0.0.1')).rejects.toThrow(`port ${port} on 127.0.0.1 is in use; choose another with --port`);
});
