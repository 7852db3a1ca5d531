// NumPy .npy: magic "\x93NUMPY", version, header length (u16 in 1.0, u32 in 2.0/3.0), then a
// Python dict literal {'descr', 'fortran_order', 'shape'} padded with spaces and '\n', then the
// raw array. Only little-endian float32/float64 in C order is read: that is what feature files
// hold, and anything else is refused by name rather than misread. parseNpy / encodeNpy work on
// bytes anywhere; NpyReader streams rows from a file (Node, Deno: src/platform), or reads them
// from bytes, a URL or a Response.

import type { FileHandle } from 'node:fs/promises';
import { ByteSource, ReadSourceOptions, readSource } from './source.js';
import { type Tensor, decodeToFloat32, elementCount } from './tensor.js';
import { platform } from '../platform/index.js';

export type { Tensor } from './tensor.js';

export type NpyDtype = 'f4' | 'f8';

export interface NpyHeader {
  version: readonly [number, number];
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the array data from the start of the file. */
  dataOffset: number;
  /** Elements in the array (1 for a 0-d array). */
  count: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const MAX_HEADER = 1 << 20;
const SUPPORTED = "'<f4' and '<f8' (also '=f4'/'=f8', read as little-endian), C order";

/**
 * Reads the fixed preamble (first 10 or 12 bytes) and returns where the header text lies,
 * so a file reader can fetch exactly that much next.
 */
export function npyPreamble(bytes: Uint8Array, label: string): { version: [number, number]; headerStart: number; headerLength: number } {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    const found = [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`${label}: not an .npy file: expected magic 93 4e 55 4d 50 59 ("\\x93NUMPY"), found ${found || 'nothing'}`);
  }
  const version: [number, number] = [bytes[6]!, bytes[7]!];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (version[0] === 1) return { version, headerStart: 10, headerLength: view.getUint16(8, true) };
  if (version[0] === 2 || version[0] === 3) {
    if (bytes.length < 12) throw new Error(`${label}: truncated .npy preamble (${bytes.length} bytes, version ${version[0]}.${version[1]} needs 12)`);
    const headerLength = view.getUint32(8, true);
    // A plain array's header is ~128 bytes; a huge value is corruption, not worth allocating for.
    if (headerLength > MAX_HEADER) throw new Error(`${label}: .npy header length ${headerLength} exceeds ${MAX_HEADER} bytes (corrupt file?)`);
    return { version, headerStart: 12, headerLength };
  }
  throw new Error(`${label}: unsupported .npy format version ${version[0]}.${version[1]} (supported: 1.0, 2.0, 3.0)`);
}

/** Parses the preamble and header dict; `bytes` must hold at least the whole header. */
export function parseNpyHeader(bytes: Uint8Array, label = 'npy data'): NpyHeader {
  const { version, headerStart, headerLength } = npyPreamble(bytes, label);
  const dataOffset = headerStart + headerLength;
  if (bytes.length < dataOffset) throw new Error(`${label}: truncated .npy header: needs ${dataOffset} bytes, found ${bytes.length}`);
  // 1.0 and 2.0 headers are latin-1; 3.0 allows utf-8 (structured field names).
  const raw = bytes.subarray(headerStart, dataOffset);
  let text = '';
  if (version[0] === 3) text = new TextDecoder('utf-8').decode(raw);
  else for (let i = 0; i < raw.length; i += 8192) text += String.fromCharCode(...raw.subarray(i, i + 8192));
  let dict: unknown;
  try {
    dict = new LiteralParser(text).parseAll();
  } catch (e) {
    throw new Error(`${label}: .npy header is not a valid dict literal (${e instanceof Error ? e.message : String(e)}): ${text.trim().slice(0, 120)}`);
  }
  if (!(dict instanceof Map)) throw new Error(`${label}: .npy header must be a dict, found: ${text.trim().slice(0, 120)}`);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${label}: .npy header 'shape' must be a tuple of non-negative integers, found ${JSON.stringify(shape)}`);
  }
  if (typeof fortran !== 'boolean') throw new Error(`${label}: .npy header 'fortran_order' must be True or False, found ${JSON.stringify(fortran)}`);
  const m = typeof descr === 'string' ? /^[<=](f4|f8)$/.exec(descr) : null;
  if (!m) {
    const shown = typeof descr === 'string' ? `'${descr}'` : `a structured dtype ${JSON.stringify(descr)}`;
    throw new Error(`${label}: .npy dtype ${shown} is not supported (supported: ${SUPPORTED})`);
  }
  // Fortran order only changes the layout when two or more dimensions exceed 1.
  if (fortran && shape.filter((d) => d > 1).length > 1) {
    throw new Error(`${label}: .npy array of shape (${shape.join(', ')}) is in Fortran order, which is not supported (supported: ${SUPPORTED}); save it with np.ascontiguousarray`);
  }
  const count = elementCount(shape as number[], label);
  return { version, dtype: m[1] as NpyDtype, shape: [...(shape as number[])], dataOffset, count };
}

function trailing(label: string, h: { shape: number[]; dtype: string }, need: number, have: number): string {
  return `${label}: ${have - need} bytes after the .npy data: shape (${h.shape.join(', ')}) of ${h.dtype} is ${need} bytes, the file holds ${have}; `
    + 'the header does not describe the data (a file appended to, or written by another tool?)';
}

/** Parses a whole .npy file held in memory; float64 data is rounded to float32. */
export function parseNpy(bytes: Uint8Array, label = 'npy data'): Tensor {
  const h = parseNpyHeader(bytes, label);
  const need = h.count * (h.dtype === 'f4' ? 4 : 8);
  const have = bytes.length - h.dataOffset;
  if (have < need) throw new Error(`${label}: truncated .npy data: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${need} bytes, found ${have}`);
  // numpy.load ignores trailing bytes; here they mean a header that does not describe the data.
  if (have > need) throw new Error(trailing(label, h, need, have));
  const data = decodeToFloat32(bytes.subarray(h.dataOffset, h.dataOffset + need), h.dtype === 'f4' ? 'f32' : 'f64', h.count, label);
  return { shape: h.shape, data };
}

// A computed specifier: bundlers targeting browsers leave it alone instead of failing to resolve it.
/** Reads `length` bytes at `position` (fewer only where allowShort and the data ends). */
interface RandomAccess {
  readAt(position: number, length: number, allowShort: boolean): Promise<Uint8Array>;
  size(): Promise<number>;
  close(): Promise<void>;
}

/** A file, read at offsets (a feature file larger than memory is never loaded whole). */
async function fileAccess(path: string): Promise<RandomAccess> {
  const fs = await platform.fs('NpyReader.open');
  const handle = await fs.open(path, 'r');
  return {
    readAt: (position, length, allowShort) => readAt(handle, position, length, path, allowShort),
    size: async () => (await handle.stat()).size,
    close: () => handle.close(),
  };
}

function memoryAccess(bytes: Uint8Array, label: string): RandomAccess {
  return {
    async readAt(position, length, allowShort) {
      const end = Math.min(bytes.byteLength, position + length);
      if (end - position < length && !allowShort) throw new Error(`${label}: truncated: expected ${length} bytes at offset ${position}, the data ends after ${Math.max(0, end - position)}`);
      return bytes.subarray(position, end);
    },
    size: async () => bytes.byteLength,
    close: async () => {},
  };
}

/**
 * Reads rows along the first axis: from a file at offsets, so a feature file larger than
 * memory can be consumed in batches, or from bytes, a URL or a Response (downloaded whole).
 */
export class NpyReader {
  private closed = false;

  private constructor(
    private readonly access: RandomAccess,
    readonly path: string,
    readonly shape: number[],
    readonly dtype: NpyDtype,
    private readonly dataOffset: number,
  ) {}

  /**
   * Opens a .npy: a path (Node, Deno; read at offsets), or a URL, a Response, an ArrayBuffer or
   * a typed array (options: onProgress, signal, maxBytes); checks its header and that it holds
   * all the data the shape promises.
   */
  static async open(source: ByteSource, options: ReadSourceOptions = {}): Promise<NpyReader> {
    const isPath = typeof source === 'string' && !/^[a-z][a-z0-9+.-]*:/i.test(source) && typeof (globalThis as { process?: unknown }).process !== 'undefined';
    let access: RandomAccess;
    let name: string;
    if (isPath) {
      access = await fileAccess(source as string);
      name = source as string;
    } else {
      const read = await readSource(source, 'NpyReader.open', options);
      access = memoryAccess(read.bytes, read.name);
      name = read.name;
    }
    try {
      const prefix = await access.readAt(0, 12, true);
      const { headerStart, headerLength } = npyPreamble(prefix, name);
      const head = await access.readAt(0, headerStart + headerLength, false);
      const h = parseNpyHeader(head, name);
      if (h.shape.length === 0) throw new Error(`${name}: a 0-d .npy array has no rows; use parseNpy`);
      const need = h.dataOffset + h.count * itemSize(h.dtype);
      const size = await access.size();
      if (size < need) {
        throw new Error(`${name}: truncated .npy data: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${need - h.dataOffset} bytes, found ${size - h.dataOffset}`);
      }
      if (size > need) throw new Error(trailing(name, h, need - h.dataOffset, size - h.dataOffset));
      return new NpyReader(access, name, h.shape, h.dtype, h.dataOffset);
    } catch (e) {
      await access.close();
      throw e;
    }
  }

  /** Number of rows (the first dimension). */
  get rows(): number {
    return this.shape[0]!;
  }

  /** Elements per row: the product of all dimensions after the first. */
  get rowSize(): number {
    return this.shape.slice(1).reduce((a, b) => a * b, 1);
  }

  /** Rows [start, start + count) along the first axis, as float32 (float64 files are rounded). */
  async readRows(start: number, count: number): Promise<Float32Array> {
    if (this.closed) throw new Error(`${this.path}: readRows after close()`);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > this.rows) {
      throw new Error(`${this.path}: readRows(${start}, ${count}) is outside rows [0, ${this.rows})`);
    }
    const elems = count * this.rowSize;
    const size = itemSize(this.dtype);
    const bytes = await this.access.readAt(this.dataOffset + start * this.rowSize * size, elems * size, false);
    return decodeToFloat32(bytes, this.dtype === 'f4' ? 'f32' : 'f64', elems, this.path);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.access.close();
  }
}

function itemSize(dtype: NpyDtype): number {
  return dtype === 'f4' ? 4 : 8;
}

/** FileHandle.read may return fewer bytes than asked; loop until done or end of file. */
async function readAt(handle: FileHandle, position: number, length: number, path: string, allowShort: boolean): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  if (got < length && !allowShort) throw new Error(`${path}: truncated: expected ${length} bytes at offset ${position}, file ended after ${got}`);
  return buf.subarray(0, got);
}

const GROWTH_AXIS_MAX_DIGITS = 21;
const ARRAY_ALIGN = 64;

/** Writes a version 1.0 '<f4' C-order .npy, byte-identical to numpy.save of a float32 array. */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const count = elementCount(shape, 'encodeNpy');
  if (data.length !== count) throw new Error(`encodeNpy: shape (${shape.join(', ')}) has ${count} elements but data has ${data.length}`);
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  // numpy leaves room to grow the first axis in place.
  if (shape.length > 0) header += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  const hlen = header.length + 1; // + '\n'
  const pad = ARRAY_ALIGN - ((10 + hlen) % ARRAY_ALIGN); // numpy pads a full 64 when already aligned
  const total = hlen + pad;
  if (total > 0xffff) throw new Error(`encodeNpy: header of ${total} bytes does not fit version 1.0`);
  const out = new Uint8Array(10 + total + 4 * count);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, total, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.fill(0x20, 10 + header.length, 10 + total - 1);
  out[10 + total - 1] = 0x0a;
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + total);
  return out;
}

/**
 * The Python literal subset numpy headers use: dicts, tuples, lists, strings, ints, True/False/None.
 * Dicts become Maps, tuples and lists arrays. Nothing is evaluated.
 */
class LiteralParser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseAll(): unknown {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) throw new Error(`unexpected '${this.s[this.i]}' at ${this.i}`);
    return v;
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i]!)) this.i++;
  }

  private value(): unknown {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.seq('}', true);
    if (c === '(') return this.seq(')', false);
    if (c === '[') return this.seq(']', false);
    if (c === "'" || c === '"') return this.str(c);
    const word = /^(?:[+-]?\d+L?|True|False|None)/.exec(this.s.slice(this.i));
    if (!word) throw new Error(`unexpected '${c ?? 'end'}' at ${this.i}`);
    this.i += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number(word[0].replace('L', ''));
  }

  private seq(close: string, dict: boolean): unknown {
    this.i++;
    const items: unknown[] = [];
    const map = new Map<unknown, unknown>();
    for (;;) {
      this.ws();
      if (this.s[this.i] === close) break;
      const v = this.value();
      if (dict) {
        this.ws();
        if (this.s[this.i++] !== ':') throw new Error(`expected ':' at ${this.i - 1}`);
        map.set(v, this.value());
      } else {
        items.push(v);
      }
      this.ws();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== close) throw new Error(`expected ',' or '${close}' at ${this.i}`);
    }
    this.i++;
    return dict ? map : items;
  }

  private str(q: string): string {
    let out = '';
    for (this.i++; this.i < this.s.length; this.i++) {
      const c = this.s[this.i]!;
      if (c === q) {
        this.i++;
        return out;
      }
      if (c === '\\') {
        const e = this.s[++this.i];
        out += e === 'n' ? '\n' : e === 't' ? '\t' : (e ?? '');
      } else {
        out += c;
      }
    }
    throw new Error('unterminated string');
  }
}
