import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { crc32, readZip } from '../../src/io/zip.js';
import { ascii, makeZip } from './builders.js';

const fixture = new Uint8Array(readFileSync(new URL('../fixtures/checkpoints/naaf_basic_tiny.pth.tar', import.meta.url)));
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const big = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) % 251);

describe('readZip', () => {
  it('lists the entries of a zipfile-written torch checkpoint', async () => {
    const entries = readZip(fixture);
    expect([...entries.keys()]).toContain('naaf_basic_tiny.pth/data.pkl');
    expect(entries.size).toBe(13);
    const version = entries.get('naaf_basic_tiny.pth/version')!;
    expect(version.method).toBe(0);
    expect(text(await version.data())).toBe('3\n');
    expect((await entries.get('naaf_basic_tiny.pth/data/0')!.data()).length).toBe(8192);
  });

  it('returns stored entries as views into the archive, without copying', async () => {
    const zip = makeZip([{ name: 'a.txt', data: ascii('hello') }]);
    const data = await readZip(zip).get('a.txt')!.data();
    expect(text(data)).toBe('hello');
    expect(data.buffer).toBe(zip.buffer);
  });

  it('inflates deflated entries and reads an archive comment', async () => {
    const zip = makeZip([{ name: 'x/big.bin', data: big, deflate: true }, { name: 'y', data: ascii('') }], { comment: 'a comment' });
    const entries = readZip(zip);
    const e = entries.get('x/big.bin')!;
    expect(e.method).toBe(8);
    expect(e.compressedSize).toBeLessThan(e.size);
    expect(await e.data()).toEqual(big);
    expect((await entries.get('y')!.data()).length).toBe(0);
  });

  it('reads zip64 end records and extra fields', async () => {
    const zip = makeZip([{ name: 'a', data: ascii('zip64!') }, { name: 'b', data: big, deflate: true }], { zip64: true });
    const entries = readZip(zip);
    expect(entries.get('a')!.size).toBe(6);
    expect(text(await entries.get('a')!.data())).toBe('zip64!');
    expect(await entries.get('b')!.data()).toEqual(big);
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
  });
});

describe('readZip on damaged archives', () => {
  it('a truncated archive has no end-of-central-directory record', () => {
    expect(() => readZip(fixture.subarray(0, fixture.length - 30))).toThrow(/no end-of-central-directory record/);
    expect(() => readZip(new Uint8Array(0), { label: 'empty.zip' })).toThrow(/^empty\.zip: no end-of-central-directory/);
  });

  it('an archive cut before its central directory says the directory is outside the file', () => {
    // Keep the end record but drop bytes in front of it, so the directory offset points past the data.
    const eocd = fixture.subarray(fixture.length - 22);
    const cut = new Uint8Array(1000 + 22);
    cut.set(fixture.subarray(0, 1000));
    cut.set(eocd, 1000);
    expect(() => readZip(cut)).toThrow(/central directory .* lies outside the 1022-byte file/);
  });

  it('a flipped byte in a central directory signature is reported', () => {
    const bad = fixture.slice();
    const cdOffset = new DataView(bad.buffer).getUint32(bad.length - 22 + 16, true);
    bad[cdOffset] ^= 0xff;
    expect(() => readZip(bad)).toThrow(/central directory entry 0 of 13: bad signature/);
  });

  it('a flipped local header signature is reported when the entry is read', async () => {
    const bad = fixture.slice();
    const entry = readZip(fixture).get('naaf_basic_tiny.pth/data/3')!;
    bad[entry.headerOffset + 1] ^= 0x55;
    await expect(readZip(bad).get('naaf_basic_tiny.pth/data/3')!.data()).rejects.toThrow(/entry 'naaf_basic_tiny.pth\/data\/3': bad local header signature/);
  });

  it('a flipped data byte fails the CRC check (and passes when the check is off)', async () => {
    const zip = makeZip([{ name: 'w', data: big }]);
    zip[40] ^= 1;
    const e = readZip(zip).get('w')!;
    await expect(e.data()).rejects.toThrow(/entry 'w': CRC-32 mismatch/);
    expect((await e.data({ checkCrc: false })).length).toBe(big.length);
  });

  it('corrupt deflate data is reported with the entry name', async () => {
    const zip = makeZip([{ name: 'd', data: big, deflate: true }]);
    for (let i = 31 + 1; i < 31 + 40; i++) zip[i] = 0xff;
    await expect(readZip(zip).get('d')!.data()).rejects.toThrow(/entry 'd': (corrupt deflate data|size mismatch|CRC-32 mismatch)/);
  });

  it('a declared size that differs from the inflated size is a size mismatch', async () => {
    const zip = makeZip([{ name: 'd', data: big, deflate: true }]);
    const cd = new DataView(zip.buffer).getUint32(zip.length - 22 + 16, true);
    new DataView(zip.buffer).setUint32(cd + 24, big.length + 10, true);
    await expect(readZip(zip).get('d')!.data()).rejects.toThrow(/entry 'd': size mismatch: inflated to 5000 bytes, the directory declares 5010/);
    new DataView(zip.buffer).setUint32(cd + 24, big.length - 10, true);
    await expect(readZip(zip).get('d')!.data()).rejects.toThrow(/entry 'd': size mismatch: inflates to more than the 4990 bytes/);
  });

  it('an unsupported compression method is named', async () => {
    const zip = makeZip([{ name: 'm', data: ascii('abc') }]);
    const cd = new DataView(zip.buffer).getUint32(zip.length - 22 + 16, true);
    new DataView(zip.buffer).setUint16(cd + 10, 12, true); // bzip2
    await expect(readZip(zip).get('m')!.data()).rejects.toThrow(/entry 'm': unsupported compression method 12/);
  });

  it('an entry whose data runs past the end of the file is reported', async () => {
    const zip = makeZip([{ name: 'm', data: ascii('abc') }]);
    const cd = new DataView(zip.buffer).getUint32(zip.length - 22 + 16, true);
    new DataView(zip.buffer).setUint32(cd + 20, 1e6, true);
    new DataView(zip.buffer).setUint32(cd + 24, 1e6, true);
    await expect(readZip(zip).get('m')!.data()).rejects.toThrow(/entry 'm': data \[\d+, \d+\) lies outside the \d+-byte file/);
  });
});
