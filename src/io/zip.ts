// A read-only zip reader, enough for torch checkpoints: the central directory (zip64 included),
// stored and deflated entries. Stored entries are returned as views, so a multi-GB archive is
// never copied; deflated ones go through the web-standard DecompressionStream.

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate; anything else fails in data(). */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  /** Offset of the entry's local header in the archive. */
  readonly headerOffset: number;
  /**
   * The entry's bytes. Stored: a view into the archive (no copy). Deflate: a new array.
   * The size is always checked; the CRC-32 is checked unless `checkCrc` is false
   * (skipping it saves a pass over large stored tensors).
   */
  data(options?: { checkCrc?: boolean }): Promise<Uint8Array>;
}

export interface ReadZipOptions {
  /** Names the archive in error messages (a path, say). */
  label?: string;
  /**
   * Bytes that deflated entries of this archive may inflate to, all data() calls together
   * (default DEFAULT_INFLATE_BUDGET): an entry whose declared size would pass it is refused
   * before any memory is spent, and every entry is cut off at its declared size while it
   * inflates. An untrusted archive (a download) cannot make the reader allocate more.
   */
  maxInflatedBytes?: number;
}

/** 4 GiB: more than any NAAF/SCAN checkpoint needs (the FC, the GRU and a COCO vocabulary take about 60 MB). */
export const DEFAULT_INFLATE_BUDGET = 4 * 2 ** 30;

/** Parses the central directory of an in-memory zip archive; entry data is read lazily. */
export function readZip(bytes: Uint8Array, options: ReadZipOptions = {}): Map<string, ZipEntry> {
  const label = options.label ?? 'zip archive';
  const budget = { left: options.maxInflatedBytes ?? DEFAULT_INFLATE_BUDGET };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = findEocd(view, label);
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // Zip64: the real values live in the zip64 end record, found through the locator just before.
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== SIG_ZIP64_LOCATOR) {
      throw new Error(`${label}: end record has zip64 markers but no zip64 locator at offset ${locator}`);
    }
    const rec = readU64(view, locator + 8, `${label}: zip64 end record offset`);
    if (rec + 56 > bytes.byteLength || view.getUint32(rec, true) !== SIG_ZIP64_EOCD) {
      throw new Error(`${label}: zip64 end record expected at offset ${rec}, not found (file is ${bytes.byteLength} bytes)`);
    }
    count = readU64(view, rec + 32, `${label}: zip64 entry count`);
    cdSize = readU64(view, rec + 40, `${label}: zip64 central directory size`);
    cdOffset = readU64(view, rec + 48, `${label}: zip64 central directory offset`);
  }
  if (cdOffset + cdSize > bytes.byteLength) {
    throw new Error(`${label}: central directory [${cdOffset}, ${cdOffset + cdSize}) lies outside the ${bytes.byteLength}-byte file (truncated?)`);
  }

  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new Error(`${label}: central directory entry ${i} of ${count}: bad signature at offset ${p}`);
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let headerOffset = view.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize) throw new Error(`${label}: central directory entry ${i} runs past the directory end`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // Zip64 extra field: only the fields saturated in the fixed header are present, in this order.
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = view.getUint16(q, true);
      const len = view.getUint16(q + 2, true);
      if (id === 0x0001) {
        let f = q + 4;
        const take = (what: string): number => {
          if (f + 8 > q + 4 + len) throw new Error(`${label}: entry '${name}': zip64 extra field too short for ${what}`);
          const v = readU64(view, f, `${label}: entry '${name}' ${what}`);
          f += 8;
          return v;
        };
        if (size === 0xffffffff) size = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (headerOffset === 0xffffffff) headerOffset = take('header offset');
      }
      q += 4 + len;
    }
    if (flags & 1) throw new Error(`${label}: entry '${name}' is encrypted, which is not supported`);
    entries.set(name, makeEntry(bytes, view, label, { name, method, compressedSize, size, crc32: crc, headerOffset }, budget));
    p = end;
  }
  return entries;
}

type EntryInfo = Omit<ZipEntry, 'data'>;

function makeEntry(bytes: Uint8Array, view: DataView, label: string, info: EntryInfo, budget: { left: number }): ZipEntry {
  const what = `${label}: entry '${info.name}'`;
  return {
    ...info,
    async data(options = {}) {
      const h = info.headerOffset;
      if (h + 30 > bytes.byteLength) throw new Error(`${what}: local header at offset ${h} lies outside the ${bytes.byteLength}-byte file`);
      if (view.getUint32(h, true) !== SIG_LOCAL) {
        throw new Error(`${what}: bad local header signature at offset ${h} (0x${view.getUint32(h, true).toString(16)})`);
      }
      // The local name/extra lengths may differ from the central ones (torch pads the extra field).
      const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
      const stop = start + info.compressedSize;
      if (stop > bytes.byteLength) {
        throw new Error(`${what}: data [${start}, ${stop}) lies outside the ${bytes.byteLength}-byte file (truncated?)`);
      }
      const raw = bytes.subarray(start, stop);
      let out: Uint8Array;
      if (info.method === METHOD_STORED) {
        if (info.compressedSize !== info.size) throw new Error(`${what}: stored entry has compressed size ${info.compressedSize} but size ${info.size}`);
        out = raw;
      } else if (info.method === METHOD_DEFLATE) {
        if (info.size > budget.left) {
          throw new Error(`${what}: declares ${info.size} inflated bytes, more than the ${budget.left} this archive may still inflate to (ReadZipOptions.maxInflatedBytes); refused before inflating`);
        }
        budget.left -= info.size;
        out = await inflateRaw(raw, info.size, what);
      } else {
        throw new Error(`${what}: unsupported compression method ${info.method} (supported: 0 stored, 8 deflate)`);
      }
      if (options.checkCrc !== false) {
        const c = crc32(out);
        if (c !== info.crc32) throw new Error(`${what}: CRC-32 mismatch (expected 0x${info.crc32.toString(16)}, computed 0x${c.toString(16)}); the archive is corrupt`);
      }
      return out;
    },
  };
}

/** Inflates into a buffer of exactly `size` bytes, failing early if the stream produces more. */
async function inflateRaw(raw: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  // Deflate cannot expand more than ~1032:1, so a larger declared size is a corrupt directory,
  // and refusing it avoids allocating whatever a corrupt 64-bit field says.
  if (size > raw.byteLength * 1032 + 64) {
    throw new Error(`${what}: declared size ${size} is impossible for ${raw.byteLength} deflated bytes`);
  }
  const out = new Uint8Array(size);
  let filled = 0;
  let overflow = false;
  const input = new ReadableStream<BufferSource>({
    start(controller) {
      controller.enqueue(raw as Uint8Array<ArrayBuffer>);
      controller.close();
    },
  });
  const reader = input.pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.byteLength > size) {
        overflow = true;
        await reader.cancel();
        break;
      }
      out.set(value, filled);
      filled += value.byteLength;
    }
  } catch (e) {
    throw new Error(`${what}: corrupt deflate data (${e instanceof Error ? e.message : String(e)})`);
  }
  if (overflow) throw new Error(`${what}: size mismatch: inflates to more than the ${size} bytes the directory declares`);
  if (filled !== size) throw new Error(`${what}: size mismatch: inflated to ${filled} bytes, the directory declares ${size}`);
  return out;
}

function findEocd(view: DataView, label: string): number {
  // The end record is the last thing in the file, followed only by a comment of up to 64 KiB.
  const last = view.byteLength - EOCD_SIZE;
  const first = Math.max(0, last - MAX_COMMENT);
  for (let p = last; p >= first; p--) {
    if (view.getUint32(p, true) === SIG_EOCD && p + EOCD_SIZE + view.getUint16(p + 20, true) === view.byteLength) return p;
  }
  throw new Error(`${label}: no end-of-central-directory record found in the last ${view.byteLength - first} bytes (not a zip file, or truncated)`);
}

function readU64(view: DataView, offset: number, what: string): number {
  if (offset + 8 > view.byteLength) throw new Error(`${what}: field at offset ${offset} lies outside the file`);
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what}: ${v} is larger than 2^53`);
  return Number(v);
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as in zip and gzip). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
