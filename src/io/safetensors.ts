// safetensors: u64 LE header length N, N bytes of JSON header, then the tensor bytes.
// Validation follows the reference implementation (huggingface/safetensors, tensor.rs):
// offsets sorted, contiguous from 0, each exactly shape * dtype size, ending at the file end.

import { DTYPE_BYTES, type SourceDtype, type Tensor, decodeToFloat32, elementCount } from './tensor.js';

export type { Tensor } from './tensor.js';

/** The reference implementation's cap on header size. */
const MAX_HEADER = 100_000_000;

const READABLE: Readonly<Record<string, SourceDtype>> = { F32: 'f32', F64: 'f64', F16: 'f16', BF16: 'bf16' };
/** Every dtype the format defines, with its size, so errors can say "unsupported" rather than "unknown". */
const KNOWN_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Reads a whole safetensors file held in memory; every tensor becomes float32. */
export function readSafetensors(bytes: Uint8Array, label = 'safetensors file'): SafetensorsFile {
  if (bytes.length < 8) throw new Error(`${label}: ${bytes.length} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) throw new Error(`${label}: header length ${n64} exceeds the ${MAX_HEADER}-byte limit (corrupt, or not safetensors)`);
  const n = Number(n64);
  if (8 + n > bytes.length) throw new Error(`${label}: header length ${n} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${label}: header is not valid UTF-8 JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${label}: header must be a JSON object`);

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) throw new Error(`${label}: __metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new Error(`${label}: __metadata__['${k}'] must be a string, found ${typeof v}`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    entries.push(parseEntry(name, info, label));
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected || e.end < e.begin) {
      throw new Error(`${label}: tensor '${e.name}' has data_offsets [${e.begin}, ${e.end}], expected to start at ${expected} (offsets must be contiguous)`);
    }
    if (e.end > dataLen) throw new Error(`${label}: tensor '${e.name}' ends at data offset ${e.end}, past the ${dataLen} data bytes (truncated?)`);
    const need = elementCount(e.shape, `${label}: tensor '${e.name}'`) * KNOWN_SIZES[e.dtype]!;
    if (e.end - e.begin !== need) {
      throw new Error(`${label}: tensor '${e.name}' (${e.dtype}, shape ${JSON.stringify(e.shape)}) needs ${need} bytes, data_offsets span ${e.end - e.begin}`);
    }
    expected = e.end;
  }
  if (expected !== dataLen) throw new Error(`${label}: tensors cover ${expected} data bytes but the file has ${dataLen} (the offsets must reach the end)`);

  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    const dtype = READABLE[e.dtype];
    if (!dtype) throw new Error(`${label}: tensor '${e.name}' has dtype ${e.dtype}, which is not supported (supported: ${Object.keys(READABLE).join(', ')})`);
    const count = (e.end - e.begin) / DTYPE_BYTES[dtype];
    const data = decodeToFloat32(bytes.subarray(dataStart + e.begin, dataStart + e.end), dtype, count, `${label}: tensor '${e.name}'`);
    Object.defineProperty(tensors, e.name, { value: { shape: e.shape, data }, enumerable: true, writable: true, configurable: true });
  }
  return { tensors, metadata };
}

function parseEntry(name: string, info: unknown, label: string): Entry {
  const what = `${label}: tensor '${name}'`;
  if (info === null || typeof info !== 'object') throw new Error(`${what}: header entry must be an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in KNOWN_SIZES)) throw new Error(`${what}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(KNOWN_SIZES).join(', ')})`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${what}: shape must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what}: data_offsets must be [begin, end] non-negative integers, found ${JSON.stringify(offsets)}`);
  }
  return { name, dtype, shape: shape as number[], begin: offsets[0] as number, end: offsets[1] as number };
}

/** Code-point order, which is the byte order Rust's String comparison uses. */
function compareNames(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
}

/**
 * Writes float32 tensors as safetensors, laid out as the reference serializer does: tensors sorted
 * by name (all share one dtype), `__metadata__` first when given, header padded with spaces to a
 * multiple of 8 so that the data starts 8-byte aligned.
 */
export function writeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort(compareNames);
  // The JSON is assembled by hand: a JS object would list integer-like names ("0", "1") first.
  const parts: string[] = [];
  if (metadata) {
    const meta: string[] = [];
    for (const k of Object.keys(metadata).sort(compareNames)) {
      const v = metadata[k];
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata['${k}'] must be a string, found ${typeof v}`);
      meta.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error("writeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    const t = tensors[name]!;
    const count = elementCount(t.shape, `writeSafetensors: tensor '${name}'`);
    if (t.data.length !== count) throw new Error(`writeSafetensors: tensor '${name}' has shape ${JSON.stringify(t.shape)} (${count} elements) but ${t.data.length} values`);
    const info = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + 4 * count] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += 4 * count;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let p = 8 + headerLen;
  for (const name of names) {
    const d = tensors[name]!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}
