// Models and feature files from the network: a URL (string or URL), a Response or bytes, with
// byte progress and cancellation; HTTP errors, truncated bodies and non-checkpoints named; and an
// untrusted zip cannot make the reader allocate past its bounds (checked before inflating).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NpyReader, encodeNpy } from '../../src/index.js';
import { loadTorchCheckpoint, MAX_PICKLE_BYTES } from '../../src/io/torch.js';
import { readSource } from '../../src/io/source.js';
import { loadModelWeights } from '../../src/model/load.js';
import { checkpointPickle, torchZip } from './builders.js';

const checkpoint = new Uint8Array(readFileSync(new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url)));
const features = encodeNpy(Float32Array.from({ length: 6 * 4 }, (_, i) => i / 10), [6, 4]);

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const send = (body: Uint8Array, length = true) => {
      res.writeHead(200, length ? { 'content-length': String(body.byteLength) } : {});
      // In several writes, so progress has several steps.
      const step = Math.ceil(body.byteLength / 4);
      for (let i = 0; i < body.byteLength; i += step) res.write(body.subarray(i, i + step));
      res.end();
    };
    switch (req.url) {
      case '/model.pth.tar': return send(checkpoint);
      case '/chunked.pth.tar': return send(checkpoint, false);
      case '/features.npy': return send(features);
      case '/garbage.bin': return send(Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 251));
      case '/truncated.pth.tar':
        res.writeHead(200, { 'content-length': String(checkpoint.byteLength) });
        res.write(checkpoint.subarray(0, 1000));
        setTimeout(() => res.destroy(), 50);
        return undefined;
      case '/slow.pth.tar':
        res.writeHead(200, { 'content-length': String(checkpoint.byteLength) });
        res.write(checkpoint.subarray(0, 1000));
        return undefined; // never finishes: only a cancel ends it
      default:
        res.writeHead(404, 'Not Found');
        return res.end('no such file');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => { server.closeAllConnections(); server.close(); });

describe('readSource and loadModel from the network', () => {
  it('a URL string, a URL, a Response, an ArrayBuffer and a path give the same model; progress reaches the total', async () => {
    const reference = await loadModelWeights(checkpoint);
    const progress: { loaded: number; total: number | null }[] = [];
    const fromUrl = await loadModelWeights(`${base}/model.pth.tar`, { onProgress: (p) => progress.push(p) });
    expect(fromUrl.config).toEqual(reference.config);
    expect(Array.from(fromUrl.state['img_enc.fc.weight'].data)).toEqual(Array.from(reference.state['img_enc.fc.weight'].data));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((p) => p.total === checkpoint.byteLength)).toBe(true);
    expect(progress.map((p) => p.loaded)).toEqual([...progress.map((p) => p.loaded)].sort((a, b) => a - b));
    expect(progress[progress.length - 1].loaded).toBe(checkpoint.byteLength);
    for (const source of [new URL(`${base}/chunked.pth.tar`), await fetch(`${base}/model.pth.tar`), checkpoint.slice().buffer,
      new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url)]) {
      expect((await loadModelWeights(source)).config).toEqual(reference.config);
    }
  });

  it('names an HTTP error, a truncated body, a body past maxBytes and a file that is no checkpoint', async () => {
    await expect(loadModelWeights(`${base}/missing.pth.tar`)).rejects.toThrow(/loadModel: http:\/\/127\.0\.0\.1:\d+\/missing\.pth\.tar answered HTTP 404 Not Found/);
    await expect(loadModelWeights(`${base}/truncated.pth.tar`)).rejects.toThrow(/loadModel: .*truncated\.pth\.tar.*(truncated: received 1000 of the \d+ bytes|download failed after 1000 bytes of \d+)/);
    await expect(loadModelWeights(`${base}/model.pth.tar`, { maxBytes: 1024 })).rejects.toThrow(/is \d+ bytes, more than the 1024 allowed \(options\.maxBytes\)/);
    await expect(loadModelWeights(`${base}/chunked.pth.tar`, { maxBytes: 1024 })).rejects.toThrow(/larger than the 1024 bytes allowed/);
    await expect(loadModelWeights(`${base}/garbage.bin`)).rejects.toThrow(/neither a torch zip checkpoint \(\.pth\.tar\) nor a valid \.safetensors file/);
    await expect(readSource(42 as never, 'loadModel')).rejects.toThrow(/source must be a path, a URL, a Response, an ArrayBuffer or a typed array/);
  });

  it('cancels a download through its AbortSignal', async () => {
    const controller = new AbortController();
    const loading = loadModelWeights(`${base}/slow.pth.tar`, { signal: controller.signal, onProgress: () => controller.abort() });
    const error = await loading.catch((e) => e);
    expect(error.name).toBe('AbortError');
    expect(error.message).toMatch(/loadModel: cancelled/);
    const already = AbortSignal.abort();
    await expect(loadModelWeights(checkpoint, { signal: already })).rejects.toThrow(/cancelled/);
  });

  it('NpyReader reads rows from a URL, a Response and bytes as from a file', async () => {
    for (const source of [`${base}/features.npy`, await fetch(`${base}/features.npy`), features]) {
      const reader = await NpyReader.open(source);
      expect(reader.shape).toEqual([6, 4]);
      expect(Array.from(await reader.readRows(2, 2))).toEqual(Array.from({ length: 8 }, (_, i) => Math.fround((8 + i) / 10)));
      await reader.close();
    }
    await expect(NpyReader.open(features.subarray(0, features.byteLength - 8))).rejects.toThrow(/truncated \.npy data/);
  });
});

describe('untrusted checkpoints cannot make the reader allocate past its bounds', () => {
  /** Rewrites the size a zip's central directory declares for entry `name` (a lie the reader must not trust). */
  function declareSize(zip: Uint8Array, name: string, size: number): Uint8Array {
    const out = zip.slice();
    const view = new DataView(out.buffer);
    const target = new TextEncoder().encode(name);
    for (let p = 0; p + 46 <= out.byteLength; p++) {
      if (view.getUint32(p, true) !== 0x02014b50) continue;
      const length = view.getUint16(p + 28, true);
      if (length === target.length && out.subarray(p + 46, p + 46 + length).every((b, i) => b === target[i])) {
        view.setUint32(p + 24, size, true);
        return out;
      }
    }
    throw new Error(`no central entry ${name}`);
  }
  const pkl = checkpointPickle([{ w: { storage: '0', numel: 4, size: [4], stride: [1] } }], { thres_safe: 0.2 });
  const storage = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);

  it('a data.pkl declaring 4 GiB or 80 MiB is refused before it inflates (the bound is 64 MiB)', async () => {
    const zip = torchZip(pkl, { 0: storage }, { deflate: true });
    for (const size of [0xfffffff0, 80 * 2 ** 20]) {
      await expect(loadTorchCheckpoint(declareSize(zip, 'archive/data.pkl', size))).rejects.toThrow(
        new RegExp(`data\\.pkl declares ${size} bytes, more than the ${MAX_PICKLE_BYTES} a checkpoint's pickle may take`));
    }
  });

  it('a storage declaring more than its tensor needs is refused before it inflates', async () => {
    const zip = declareSize(torchZip(pkl, { 0: storage }, { deflate: true }), 'archive/data/0', 3 * 2 ** 30);
    await expect(loadTorchCheckpoint(zip)).rejects.toThrow(/entry 'archive\/data\/0' declares 3221225472 bytes, the 4-element f32 storage needs 16/);
  });
});
