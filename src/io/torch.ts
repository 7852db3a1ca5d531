// Loads PyTorch zip checkpoints (torch.save since 1.6) without Python: the pickle is read with the
// safe unpickler against a small allowlist, tensors become placeholders pointing at
// `<root>/data/<key>` storages, and those are decoded to float32 afterwards (all formats are
// little-endian; a `byteorder` entry saying otherwise is refused).
//
// Storage dtypes: float32/float64/float16/bfloat16 are converted to float32 (float64 rounds).
// Integer and bool storages (a BatchNorm's num_batches_tracked, say) are converted to float32
// too, exact up to 2^24. Non-zip (legacy) checkpoints are refused.

import { type GlobalHandler, type GlobalTable, PyGlobal, unpickle } from './pickle.js';
import { standardGlobals } from './pickle-globals.js';
import { DTYPE_BYTES, type SourceDtype, type Tensor, decodeToFloat32, elementCount } from './tensor.js';
import { readZip, type ZipEntry } from './zip.js';

export type { Tensor } from './tensor.js';

export interface TorchCheckpoint {
  epoch?: number;
  bestRsum?: number;
  eiters?: number;
  /** The argparse options the model was trained with (Namespace attributes, or the dict saved as opt). */
  opt: Record<string, unknown>;
  /** The state dicts in `checkpoint['model']`, keys as in the file. A bare saved state dict gives one entry. */
  model: Record<string, Tensor>[];
}

export interface LoadTorchOptions {
  /** Names the checkpoint in error messages. */
  label?: string;
  /** Verify each zip entry's CRC-32 (default true). */
  checkCrc?: boolean;
}

const STORAGE_DTYPES: Readonly<Record<string, SourceDtype>> = {
  FloatStorage: 'f32', DoubleStorage: 'f64', HalfStorage: 'f16', BFloat16Storage: 'bf16',
  LongStorage: 'i64', IntStorage: 'i32', ShortStorage: 'i16', CharStorage: 'i8', ByteStorage: 'u8', BoolStorage: 'bool',
};

/** A storage named by a persistent id; its bytes are read after unpickling. */
class StorageRef {
  uses = 0;
  constructor(readonly key: string, readonly dtype: SourceDtype, readonly numel: number) {}
}

/** A tensor as _rebuild_tensor_v2 describes it: a strided window on a storage. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what}: expected a tuple of non-negative integers, found ${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x))}`);
  }
  return [...(v as number[])];
}

function rebuildTensor(args: readonly unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new Error('torch _rebuild_tensor: first argument is not a storage from a persistent id');
  const what = `tensor on storage '${storage.key}'`;
  if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw new Error(`${what}: storage offset must be a non-negative integer, found ${String(offset)}`);
  const shape = intList(size, `${what}: size`);
  const strides = intList(stride, `${what}: stride`);
  if (shape.length !== strides.length) throw new Error(`${what}: size ${JSON.stringify(shape)} and stride ${JSON.stringify(strides)} differ in rank`);
  const n = elementCount(shape, what);
  if (n > 0) {
    let last = offset as number;
    for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * strides[d]!;
    if (last >= storage.numel) {
      throw new Error(`${what}: size ${JSON.stringify(shape)}, stride ${JSON.stringify(strides)}, offset ${String(offset)} reach element ${last}, but the storage holds ${storage.numel}`);
    }
  }
  storage.uses++;
  return new TensorRef(storage, offset as number, shape, strides);
}

const dataOnly: GlobalHandler = {};

function torchGlobals(): GlobalTable {
  const table: Record<string, GlobalHandler> = {
    'torch._utils _rebuild_tensor_v2': { call: rebuildTensor },
    'torch._utils _rebuild_tensor': { call: rebuildTensor },
    // Parameters are tensors here: requires_grad and hooks mean nothing for inference.
    'torch._utils _rebuild_parameter': { call: ([data]) => data },
    'torch._utils _rebuild_parameter_with_state': { call: ([data]) => data },
    'torch._tensor _rebuild_from_type_v2': {
      call([fn, , args]) {
        if (!(fn instanceof PyGlobal) || !fn.handler.call || !Array.isArray(args)) throw new Error('torch _rebuild_from_type_v2: expected an allowlisted function and a tuple of arguments');
        return fn.handler.call(args);
      },
    },
    'torch Tensor': dataOnly,
    'torch.nn.parameter Parameter': dataOnly,
    'torch device': { call: ([type, index]) => (index === undefined || index === null ? String(type) : `${String(type)}:${String(index)}`) },
    'torch Size': { call: ([dims]) => (Array.isArray(dims) ? Object.freeze([...dims]) : dims) },
  };
  for (const name of Object.keys(STORAGE_DTYPES)) table[`torch ${name}`] = dataOnly;
  for (const dt of ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool']) table[`torch ${dt}`] = dataOnly;
  return Object.freeze({ ...standardGlobals, ...table });
}

/** The largest data.pkl accepted: the real checkpoints' pickles are under 1 MB (tensors are stored apart). */
export const MAX_PICKLE_BYTES = 64 * 2 ** 20;

/** Loads a torch.save zip checkpoint held in memory. */
export async function loadTorchCheckpoint(bytes: Uint8Array, options: LoadTorchOptions = {}): Promise<TorchCheckpoint> {
  const label = options.label ?? 'torch checkpoint';
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new Error(`${label}: not a zip archive (starts with ${hex(bytes.subarray(0, 4))}); legacy torch serialization is not supported, re-save with torch>=1.6 (the zip format)`);
  }
  const entries = readZip(bytes, { label });
  const root = findRoot(entries, label);
  const checkCrc = options.checkCrc;
  const byteorder = entries.get(`${root}/byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(await byteorder.data({ checkCrc })).trim();
    if (order !== 'little') throw new Error(`${label}: storages are ${order}-endian; only little-endian checkpoints are supported`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new Error(`${label}: unsupported persistent id ${describe(pid)} (expected ('storage', type, key, location, numel))`);
    const [, type, key, , numel] = pid;
    const dtype = type instanceof PyGlobal && type.module === 'torch' ? STORAGE_DTYPES[type.name] : undefined;
    if (!dtype) throw new Error(`${label}: storage type ${describe(type)} is not supported (supported: ${Object.keys(STORAGE_DTYPES).join(', ')})`);
    if (typeof key !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0) throw new Error(`${label}: malformed storage id ${describe(pid)}`);
    const seen = storages.get(key);
    if (seen && seen.dtype !== dtype) throw new Error(`${label}: storage '${key}' is referenced as both ${seen.dtype} and ${dtype}`);
    const ref = seen ?? new StorageRef(key, dtype, numel as number);
    storages.set(key, ref);
    return ref;
  };
  const pklEntry = entries.get(`${root}/data.pkl`)!;
  if (pklEntry.size > MAX_PICKLE_BYTES) {
    throw new Error(`${label}: ${root}/data.pkl declares ${pklEntry.size} bytes, more than the ${MAX_PICKLE_BYTES} a checkpoint's pickle may take (the tensors live in data/ entries); refused before reading it`);
  }
  const pkl = await pklEntry.data({ checkCrc });
  const value = unpickle(pkl, { globals: torchGlobals(), persistentLoad, label: `${label}: ${root}/data.pkl` });

  const top = value instanceof Map ? value : undefined;
  if (!top) throw new Error(`${label}: the pickled object is a ${describe(value)}, expected a dict`);
  const isStateDict = [...top.values()].every((v) => v instanceof TensorRef);
  const modelValue = isStateDict ? [top] : top.get('model');
  if (modelValue === undefined) {
    const keys = [...top.keys()].slice(0, 8).map((k) => describe(k)).join(', ');
    throw new Error(`${label}: the checkpoint dict has no 'model' key and is not a state dict (keys: ${keys})`);
  }
  const stateDicts = modelValue instanceof Map ? [modelValue] : modelValue;
  if (!Array.isArray(stateDicts)) throw new Error(`${label}: checkpoint['model'] is a ${describe(modelValue)}, expected a list of state dicts`);

  const decoded = new Map<StorageRef, Float32Array>();
  const loadStorage = async (s: StorageRef): Promise<Float32Array> => {
    const cached = decoded.get(s);
    if (cached) return cached;
    const name = `${root}/data/${s.key}`;
    const entry = entries.get(name);
    if (!entry) throw new Error(`${label}: storage '${s.key}' is referenced but entry '${name}' is missing`);
    const need = s.numel * DTYPE_BYTES[s.dtype];
    // torch writes each storage at exactly its size; a larger entry is refused before it inflates.
    if (entry.size > need + 64) throw new Error(`${label}: entry '${name}' declares ${entry.size} bytes, the ${s.numel}-element ${s.dtype} storage needs ${need}`);
    const raw = await entry.data({ checkCrc });
    if (raw.length < need) throw new Error(`${label}: entry '${name}' holds ${raw.length} bytes, the ${s.numel}-element ${s.dtype} storage needs ${need}`);
    const out = decodeToFloat32(raw, s.dtype, s.numel, `${label}: ${name}`);
    decoded.set(s, out);
    return out;
  };
  const materialize = async (t: TensorRef): Promise<Tensor> => {
    const src = await loadStorage(t.storage);
    const n = elementCount(t.shape, 'tensor');
    // A tensor that is its whole storage can take the decoded array as is.
    if (t.storage.uses === 1 && t.offset === 0 && n === t.storage.numel && isContiguous(t.shape, t.stride)) return { shape: t.shape, data: src };
    return { shape: t.shape, data: gather(src, t.offset, t.shape, t.stride, n) };
  };

  const model: Record<string, Tensor>[] = [];
  for (const [i, sd] of stateDicts.entries()) {
    if (!(sd instanceof Map)) throw new Error(`${label}: model[${i}] is a ${describe(sd)}, expected a state dict`);
    const entriesOut: [string, Tensor][] = [];
    for (const [k, v] of sd) {
      if (typeof k !== 'string') throw new Error(`${label}: model[${i}] has a non-string key ${describe(k)}`);
      if (!(v instanceof TensorRef)) throw new Error(`${label}: model[${i}]['${k}'] is a ${describe(v)}, expected a tensor`);
      entriesOut.push([k, await materialize(v)]);
    }
    model.push(Object.fromEntries(entriesOut)); // fromEntries: a '__proto__' key stays a key
  }

  const num = (k: string): number | undefined => {
    const v = top.get(k);
    return typeof v === 'number' ? v : undefined;
  };
  const optValue = isStateDict ? undefined : top.get('opt');
  let opt: Record<string, unknown> = {};
  if (optValue instanceof Map || (optValue !== null && typeof optValue === 'object' && !Array.isArray(optValue))) {
    opt = toPlain(optValue) as Record<string, unknown>;
  } else if (optValue !== undefined && optValue !== null) {
    throw new Error(`${label}: checkpoint['opt'] is a ${describe(optValue)}, expected a Namespace or dict`);
  }
  return { epoch: num('epoch'), bestRsum: num('best_rsum'), eiters: num('Eiters'), opt, model };
}

function findRoot(entries: Map<string, ZipEntry>, label: string): string {
  const roots = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n)).map((n) => n.slice(0, -'/data.pkl'.length));
  if (roots.length !== 1) {
    const names = [...entries.keys()].slice(0, 5).join(', ');
    throw new Error(`${label}: expected exactly one '<root>/data.pkl' entry, found ${roots.length} (entries: ${names}${entries.size > 5 ? ', ...' : ''})`);
  }
  return roots[0]!;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d]! > 1 && stride[d] !== expect) return false;
    expect *= shape[d]!;
  }
  return true;
}

/** Copies a strided view into a C-order array. */
function gather(src: Float32Array, offset: number, shape: number[], stride: number[], n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 0) return out;
  if (shape.length === 0) {
    out[0] = src[offset]!;
    return out;
  }
  if (isContiguous(shape, stride)) {
    out.set(src.subarray(offset, offset + n));
    return out;
  }
  const last = shape.length - 1;
  const inner = shape[last]!;
  const innerStride = stride[last]!;
  const idx = new Array<number>(shape.length).fill(0);
  let base = offset;
  for (let o = 0; o < n; ) {
    for (let j = 0; j < inner; j++) out[o++] = src[base + j * innerStride]!;
    // Odometer over the outer dimensions.
    for (let d = last - 1; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Unpickled option values as plain JSON-like data: string-keyed dicts become objects. */
function toPlain(v: unknown): unknown {
  if (v instanceof PyGlobal) return v.qualifiedName;
  if (v instanceof TensorRef) return `tensor${JSON.stringify(v.shape)}`;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) {
    if ([...v.keys()].every((k) => typeof k === 'string')) return Object.fromEntries([...v].map(([k, x]) => [k, toPlain(x)]));
    return new Map([...v].map(([k, x]) => [k, toPlain(x)]));
  }
  if (v instanceof Set) return new Set([...v].map(toPlain));
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  }
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return `global ${v.qualifiedName}`;
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return `${Object.isFrozen(v) ? 'tuple' : 'list'} of ${v.length}`;
  if (typeof v === 'string') return `'${v.slice(0, 40)}'`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : `${typeof v} ${String(v)}`;
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ') || '(empty)';
}
