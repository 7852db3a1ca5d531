// Allowlist entries for the plain-Python (and numpy scalar) globals that training scripts put in
// checkpoints next to the tensors: OrderedDict, sets, bytes under protocol 2, argparse.Namespace,
// numpy float64 scalars. Each handler only builds data; none imports or runs anything.

import { halfToFloat } from './tensor.js';
import { type GlobalHandler, type GlobalTable, PyGlobal, SET_STATE, type SetStateTarget } from './pickle.js';

function iterableArg(args: readonly unknown[], what: string): Iterable<unknown> {
  const a = args[0];
  if (a === undefined) return [];
  if (Array.isArray(a) || a instanceof Set) return a;
  if (a instanceof Map) return a.keys();
  throw new Error(`${what}: expected an iterable argument, found ${typeof a}`);
}

const orderedDict: GlobalHandler = {
  call(args) {
    const d = new Map<unknown, unknown>();
    for (const pair of iterableArg(args, 'collections.OrderedDict')) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new Error('collections.OrderedDict: expected (key, value) pairs');
      d.set(pair[0], pair[1]);
    }
    return d;
  },
};

const set: GlobalHandler = { call: (args) => new Set(iterableArg(args, 'set')) };

/** Text to bytes: protocol 2 spells a bytes object as `_codecs.encode(s, 'latin1')`. */
function encodeText(s: unknown, encoding: unknown, what: string): Uint8Array {
  if (typeof s !== 'string') throw new Error(`${what}: expected a str argument, found ${typeof s}`);
  if (encoding === 'utf-8' || encoding === 'utf8') return new TextEncoder().encode(s);
  if (encoding !== 'latin1' && encoding !== 'latin-1' && encoding !== 'iso-8859-1') {
    throw new Error(`${what}: only the latin1 and utf-8 encodings are supported, found '${String(encoding)}'`);
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new Error(`${what}: character U+${c.toString(16)} is not latin1`);
    out[i] = c;
  }
  return out;
}

const codecsEncode: GlobalHandler = {
  call: ([s, enc]) => encodeText(s, enc ?? 'utf-8', '_codecs.encode'),
};

const bytearray: GlobalHandler = {
  call([a, enc]) {
    if (a === undefined) return new Uint8Array(0);
    if (a instanceof Uint8Array) return a.slice();
    return encodeText(a, enc ?? 'utf-8', 'bytearray');
  },
};

// argparse.Namespace pickles as NEWOBJ + BUILD(__dict__): a plain object receives the attributes.
const namespace: GlobalHandler = { construct: () => ({}), call: () => ({}) };

/** numpy.dtype as far as scalar decoding needs it: kind, size and byte order. */
export class NumpyDtype implements SetStateTarget {
  byteOrder = '=';
  constructor(readonly descr: string) {}
  [SET_STATE](state: unknown): void {
    // (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
    if (Array.isArray(state) && typeof state[1] === 'string') this.byteOrder = state[1];
  }
}

const numpyDtype: GlobalHandler = {
  call([descr]) {
    if (typeof descr !== 'string') throw new Error(`numpy.dtype: expected a type code string, found ${typeof descr}`);
    return new NumpyDtype(descr);
  },
};

/** numpy scalar(dtype, raw bytes) -> number / bigint / boolean. */
const numpyScalar: GlobalHandler = {
  call([dtype, raw]) {
    if (!(dtype instanceof NumpyDtype)) throw new Error('numpy scalar: first argument is not a numpy.dtype');
    const bytes = typeof raw === 'string' ? encodeText(raw, 'latin1', 'numpy scalar') : raw;
    if (!(bytes instanceof Uint8Array)) throw new Error('numpy scalar: second argument is not bytes');
    const m = /^([<>=|]?)([fiub])(\d+)$/.exec(dtype.descr);
    if (!m) throw new Error(`numpy scalar: dtype '${dtype.descr}' is not supported (supported: f2/f4/f8, i1-i8, u1-u8, b1)`);
    const kind = m[2]!;
    const size = Number(m[3]);
    if (bytes.length !== size) throw new Error(`numpy scalar '${dtype.descr}': expected ${size} bytes, found ${bytes.length}`);
    const le = (m[1] || dtype.byteOrder) !== '>';
    const v = new DataView(bytes.buffer, bytes.byteOffset, size);
    const key = `${kind}${size}`;
    switch (key) {
      case 'f2': return halfToFloat(v.getUint16(0, le));
      case 'f4': return v.getFloat32(0, le);
      case 'f8': return v.getFloat64(0, le);
      case 'i1': return v.getInt8(0);
      case 'u1': return v.getUint8(0);
      case 'b1': return v.getUint8(0) !== 0;
      case 'i2': return v.getInt16(0, le);
      case 'u2': return v.getUint16(0, le);
      case 'i4': return v.getInt32(0, le);
      case 'u4': return v.getUint32(0, le);
      case 'i8': return safe(v.getBigInt64(0, le));
      case 'u8': return safe(v.getBigUint64(0, le));
      default: throw new Error(`numpy scalar: dtype '${dtype.descr}' is not supported`);
    }
  },
};

function safe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

// Protocols 0 and 1 pickle plain objects as copyreg._reconstructor(cls, object, None), which is
// object.__new__(cls): only an allowlisted class can get here, so it is as safe as NEWOBJ.
const reconstructor: GlobalHandler = {
  call([cls, base, state]) {
    if (!(cls instanceof PyGlobal)) throw new Error('copyreg._reconstructor: first argument is not an allowlisted class');
    if (!(base instanceof PyGlobal) || base.name !== 'object' || (state !== null && state !== undefined)) {
      throw new Error(`copyreg._reconstructor: only object.__new__(${cls.qualifiedName}) is supported`);
    }
    if (cls.handler.construct) return cls.handler.construct([], new Map());
    if (cls.handler.call) return cls.handler.call([]);
    throw new Error(`copyreg._reconstructor: global '${cls.qualifiedName}' is allowed as data only`);
  },
};

const dataOnly: GlobalHandler = {};

/**
 * Python-side globals that carry only data. Merge with format-specific ones
 * (see torch.ts) to form the allowlist passed to unpickle().
 */
export const standardGlobals: GlobalTable = Object.freeze({
  'collections OrderedDict': orderedDict,
  'builtins set': set,
  'builtins frozenset': set,
  '__builtin__ set': set,
  '__builtin__ frozenset': set,
  'builtins bytearray': bytearray,
  '__builtin__ bytearray': bytearray,
  '_codecs encode': codecsEncode,
  'copy_reg _reconstructor': reconstructor,
  'copyreg _reconstructor': reconstructor,
  'builtins object': dataOnly,
  '__builtin__ object': dataOnly,
  'argparse Namespace': namespace,
  'numpy dtype': numpyDtype,
  'numpy.core.multiarray scalar': numpyScalar,
  'numpy._core.multiarray scalar': numpyScalar,
});
