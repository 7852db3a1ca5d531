// A safe unpickler: a plain stack machine over pickle protocols 0-5 that never imports or runs
// anything. A GLOBAL (or STACK_GLOBAL, INST, EXT*) names Python code to call; here it is looked up
// in a caller-given allowlist of JS handlers and any other name is refused on the spot, before
// its arguments are even read. Value mapping:
//   dict -> Map (insertion order kept, any key type), list -> array, tuple -> frozen array,
//   str -> string, int -> number (bigint beyond 2^53), float -> number, bool, None -> null,
//   bytes / bytearray -> Uint8Array, set / frozenset -> Set, allowlisted globals -> PyGlobal.

/** What an allowlisted global may do. A handler with neither member may appear only as data. */
export interface GlobalHandler {
  /** REDUCE (and INST / OBJ): `callable(*args)`. */
  call?: (args: readonly unknown[]) => unknown;
  /** NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`; falls back to `call`. */
  construct?: (args: readonly unknown[], kwargs: ReadonlyMap<unknown, unknown>) => unknown;
}

/** The allowlist, keyed by `"module name"` exactly as the pickle spells it (`"collections OrderedDict"`). */
export type GlobalTable = Readonly<Record<string, GlobalHandler>>;

/** An allowlisted global as a value (a storage type passed to persistent_load, say). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string, readonly handler: GlobalHandler) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Objects made by handlers may implement this to receive BUILD's state (Python's __setstate__). */
export const SET_STATE: unique symbol = Symbol('pickle.setstate');
export interface SetStateTarget {
  [SET_STATE](state: unknown): void;
}

/** BUILD state given to objects that keep no attributes of their own (a Map, an array). */
const attributeStore = new WeakMap<object, unknown>();
/** The BUILD state applied to `obj`, when it had no other place to go (an OrderedDict's `_metadata`, say). */
export function pickleAttributes(obj: object): unknown {
  return attributeStore.get(obj);
}

export interface UnpickleOptions {
  globals: GlobalTable;
  /** Resolves BINPERSID / PERSID ids; without it they are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Names the data in error messages (a file or zip entry). */
  label?: string;
}

const utf8 = new TextDecoder('utf-8');

/** ISO-8859-1 (TextDecoder's 'latin1' is windows-1252, which remaps 0x80-0x9f). */
function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const label = options.label ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = []; // MARK positions, kept as stack heights (Python's metastack)
  const memo = new Map<number, unknown>();
  let pos = 0;
  let opAt = 0;

  const fail = (msg: string): never => {
    throw new Error(`${label}: ${msg} (opcode 0x${(bytes[opAt] ?? 0).toString(16).padStart(2, '0')} at offset ${opAt})`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.length) fail(`truncated: needs ${n} more bytes, ${bytes.length - pos} left`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => view.getUint8(need(1));
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const i32 = () => view.getInt32(need(4), true);
  const u64 = () => {
    const v = view.getBigUint64(need(8), true);
    return v > BigInt(bytes.length) ? fail(`length ${v} exceeds the data size`) : Number(v);
  };
  const take = (n: number) => bytes.subarray(need(n), pos);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('truncated: no newline ending a text argument');
    const s = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length <= (marks.at(-1) ?? 0)) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= (marks.at(-1) ?? 0)) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK to pop to');
    return stack.splice(m as number);
  };
  const resolve = (module: string, name: string): PyGlobal => {
    const key = `${module} ${name}`;
    if (!Object.hasOwn(options.globals, key)) {
      fail(`refusing global '${module}.${name}': not in the allowlist (${Object.keys(options.globals).length} allowed names); nothing was executed`);
    }
    return new PyGlobal(module, name, options.globals[key]!);
  };
  const callGlobal = (fn: unknown, args: unknown, how: 'call' | 'construct', kwargs?: ReadonlyMap<unknown, unknown>): unknown => {
    if (!(fn instanceof PyGlobal)) return fail(`cannot call a ${typeName(fn)}: only allowlisted globals are callable`);
    if (!Array.isArray(args)) return fail(`arguments to ${fn.qualifiedName} must be a tuple, found ${typeName(args)}`);
    const h = fn.handler;
    if (how === 'construct' && h.construct) return h.construct(args, kwargs ?? new Map());
    if (h.call && (!kwargs || kwargs.size === 0)) return h.call(args);
    return fail(`global '${fn.qualifiedName}' is allowed as data only; it cannot be ${how === 'call' ? 'called' : 'instantiated'} here`);
  };
  const persistent = (pid: unknown): unknown =>
    options.persistentLoad ? options.persistentLoad(pid) : fail('persistent id found but no persistentLoad was given');

  for (;;) {
    opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: { const v = u8(); if (v > 5) fail(`unsupported pickle protocol ${v} (supported: 0-5)`); break; } // PROTO
      case 0x95: u64(); break; // FRAME: framing is only a read-ahead hint
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length) fail(`STOP with ${stack.length} values and ${marks.length} open marks on the stack (expected exactly one value)`);
        return stack[0];
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x29: stack.push(tuple([])); break; // EMPTY_TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(decodeLong(take(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); if (n < 0) fail('negative LONG4 length'); stack.push(decodeLong(take(n))); break; }
      case 0x49: { // INT (text; I00 / I01 are the protocol-0 booleans)
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : parseIntText(s, fail));
        break;
      }
      case 0x4c: stack.push(parseIntText(line().replace(/L$/, ''), fail)); break; // LONG (text)
      case 0x46: stack.push(parseFloatText(line(), fail)); break; // FLOAT (text)
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x56: stack.push(decodeRawUnicodeEscape(line())); break; // UNICODE (text)
      // Python 2 str: torch.load decodes them as utf-8, so do we.
      case 0x53: stack.push(utf8.decode(unquotePy2String(line(), fail))); break; // STRING
      case 0x54: { const n = i32(); if (n < 0) fail('negative BINSTRING length'); stack.push(utf8.decode(take(n))); break; }
      case 0x55: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x97: fail('out-of-band buffers (NEXT_BUFFER) are not supported'); break;
      case 0x98: break; // READONLY_BUFFER: no-op for our copies
      case 0x74: stack.push(tuple(popMark())); break; // TUPLE
      case 0x85: { const a = pop(); stack.push(tuple([a])); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(tuple([a, b, c])); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: stack.push(pairsToMap(popMark(), fail)); break; // DICT
      case 0x61: { const v = pop(); asList(top(), fail).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); const list = asList(top(), fail); for (const v of items) list.push(v); break; } // APPENDS (no spread: a long list would overflow the stack)
      case 0x73: { const v = pop(); const k = pop(); asDict(top(), fail).set(k, v); break; } // SETITEM
      case 0x75: { // SETITEMS
        const items = popMark();
        const d = asDict(top(), fail);
        for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i], items[i + 1]);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on a ${typeName(s)}, expected a set`);
        for (const v of items) (s as Set<unknown>).add(v);
        break;
      }
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x67: stack.push(memoGet(memo, parseIntText(line(), fail), fail)); break; // GET
      case 0x68: stack.push(memoGet(memo, u8(), fail)); break; // BINGET
      case 0x6a: stack.push(memoGet(memo, u32(), fail)); break; // LONG_BINGET
      case 0x70: memo.set(Number(parseIntText(line(), fail)), top()); break; // PUT
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { const module = line(); stack.push(resolve(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x69: { // INST: module and name inline, arguments since the mark
        const module = line();
        const g = resolve(module, line());
        stack.push(callGlobal(g, tuple(popMark()), 'call'));
        break;
      }
      case 0x6f: { // OBJ: class and arguments since the mark
        const [cls, ...args] = popMark();
        stack.push(callGlobal(cls, tuple(args), 'call'));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(callGlobal(fn, args, 'call')); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(callGlobal(cls, args, 'construct')); break; } // NEWOBJ
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args, 'construct', asDict(kwargs, fail)));
        break;
      }
      case 0x62: { const state = pop(); build(top(), state, fail); break; } // BUILD
      case 0x50: stack.push(persistent(line())); break; // PERSID
      case 0x51: stack.push(persistent(pop())); break; // BINPERSID
      case 0x82: case 0x83: case 0x84:
        fail('refusing extension-registry global (EXT1/EXT2/EXT4): it cannot be checked against the allowlist');
        break;
      default:
        fail(`unknown or unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

type Fail = (msg: string) => never;

function tuple(items: unknown[]): readonly unknown[] {
  return Object.freeze(items);
}

function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof PyGlobal) return `global ${v.qualifiedName}`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

function asList(v: unknown, fail: Fail): unknown[] {
  if (!Array.isArray(v) || Object.isFrozen(v)) fail(`expected a list to append to, found ${typeName(v)}`);
  return v as unknown[];
}

function asDict(v: unknown, fail: Fail): Map<unknown, unknown> {
  if (!(v instanceof Map)) fail(`expected a dict, found ${typeName(v)}`);
  return v as Map<unknown, unknown>;
}

function pairsToMap(items: unknown[], fail: Fail): Map<unknown, unknown> {
  if (items.length % 2) fail(`DICT needs key/value pairs, found ${items.length} items`);
  const d = new Map<unknown, unknown>();
  for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  return d;
}

function memoGet(memo: Map<number, unknown>, key: number | bigint, fail: Fail): unknown {
  const k = Number(key);
  if (!memo.has(k)) fail(`memo key ${k} was never stored`);
  return memo.get(k);
}

/** Python's BUILD: __setstate__ if the object has one, else attribute update. */
function build(obj: unknown, state: unknown, fail: Fail): void {
  if (obj === null || typeof obj !== 'object') return fail(`BUILD on a ${typeName(obj)}`);
  if (SET_STATE in obj && typeof (obj as SetStateTarget)[SET_STATE] === 'function') {
    (obj as SetStateTarget)[SET_STATE](state);
    return;
  }
  // (dict_state, slots_state) is how objects with __slots__ pickle; merge both.
  let attrs: unknown[] = [];
  if (Array.isArray(state) && Object.isFrozen(state) && state.length === 2) attrs = [state[0], state[1]];
  else attrs = [state];
  const proto = Object.getPrototypeOf(obj);
  const plain = proto === Object.prototype || proto === null;
  for (const a of attrs) {
    if (a === null) continue;
    if (!(a instanceof Map)) return fail(`BUILD state must be a dict, found ${typeName(a)}`);
    if (!plain) {
      attributeStore.set(obj, a);
      continue;
    }
    for (const [k, v] of a) {
      if (typeof k !== 'string') return fail(`BUILD attribute names must be strings, found ${typeName(k)}`);
      // defineProperty, not assignment: a key named __proto__ must stay an ordinary attribute.
      Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
}

/** Little-endian two's complement, as LONG1 / LONG4 store it. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return narrow(v);
}

function narrow(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntText(s: string, fail: Fail): number | bigint {
  if (!/^[+-]?\d+$/.test(s.trim())) fail(`bad integer text '${s}'`);
  return narrow(BigInt(s.trim()));
}

function parseFloatText(s: string, fail: Fail): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan') return NaN;
  const v = Number(t);
  if (t === '' || Number.isNaN(v)) fail(`bad float text '${s}'`);
  return v;
}

/** Protocol-0 STRING argument: a Python 2 repr, quoted, with backslash escapes. */
function unquotePy2String(s: string, fail: Fail): Uint8Array {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('STRING argument is not quoted');
  const body = s.slice(1, -1);
  const out: number[] = [];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34, '\n': -1 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') { out.push(c.charCodeAt(0) & 0xff); continue; }
    const e = body[++i] ?? '';
    if (e in simple) { if (simple[e]! >= 0) out.push(simple[e]!); continue; }
    if (e === 'x') { out.push(parseInt(body.slice(i + 1, i + 3), 16) & 0xff); i += 2; continue; }
    const oct = /^[0-7]{1,3}/.exec(body.slice(i));
    if (oct) { out.push(parseInt(oct[0], 8) & 0xff); i += oct[0].length - 1; continue; }
    out.push(92, e.charCodeAt(0) & 0xff); // unknown escapes stay literal, as in Python
  }
  return Uint8Array.from(out);
}

/** Protocol-0 UNICODE argument: latin-1 text where only \uXXXX and \UXXXXXXXX are escapes. */
function decodeRawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4: string | undefined, u8: string | undefined) =>
    String.fromCodePoint(parseInt((u4 ?? u8)!, 16)));
}
