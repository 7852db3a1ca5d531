// Test-only encoders: a zip writer (stored / deflate / zip64), a pickle assembler and a torch
// checkpoint builder, so the readers can be exercised on bytes made here, not by Python.
import { crc32 as zlibCrc32, deflateRawSync } from 'node:zlib';

export function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
}

export function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

export function f64Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float64Array(values).buffer);
}

class ByteWriter {
  private bytes: number[] = [];
  u8(v: number) { this.bytes.push(v & 0xff); return this; }
  u16(v: number) { return this.u8(v).u8(v >> 8); }
  u32(v: number) { return this.u16(v & 0xffff).u16(v >>> 16); }
  u64(v: number) { return this.u32(v % 2 ** 32).u32(Math.floor(v / 2 ** 32)); }
  raw(b: Uint8Array) { for (const x of b) this.bytes.push(x); return this; }
  get length() { return this.bytes.length; }
  done() { return Uint8Array.from(this.bytes); }
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

/** A zip archive like torch or Python's zipfile writes; `zip64` forces the zip64 records. */
export function makeZip(files: ZipInput[], options: { zip64?: boolean; comment?: string } = {}): Uint8Array {
  const w = new ByteWriter();
  const central = new ByteWriter();
  const z64 = options.zip64 ?? false;
  for (const f of files) {
    const name = new TextEncoder().encode(f.name);
    const body = f.deflate ? new Uint8Array(deflateRawSync(f.data)) : f.data;
    const crc = zlibCrc32(f.data) >>> 0;
    const offset = w.length;
    const extra = z64 ? new ByteWriter().u16(1).u16(24).u64(f.data.length).u64(body.length).u64(offset).done() : new Uint8Array(0);
    w.u32(0x04034b50).u16(z64 ? 45 : 20).u16(0).u16(f.deflate ? 8 : 0).u16(0).u16(0).u32(crc)
      .u32(z64 ? 0xffffffff : body.length).u32(z64 ? 0xffffffff : f.data.length).u16(name.length).u16(0).raw(name).raw(body);
    central.u32(0x02014b50).u16(z64 ? 45 : 20).u16(z64 ? 45 : 20).u16(0).u16(f.deflate ? 8 : 0).u16(0).u16(0).u32(crc)
      .u32(z64 ? 0xffffffff : body.length).u32(z64 ? 0xffffffff : f.data.length).u16(name.length).u16(extra.length).u16(0)
      .u16(0).u16(0).u32(0).u32(z64 ? 0xffffffff : offset).raw(name).raw(extra);
  }
  const cd = central.done();
  const cdOffset = w.length;
  w.raw(cd);
  if (z64) {
    const rec = w.length;
    w.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(files.length).u64(files.length).u64(cd.length).u64(cdOffset);
    w.u32(0x07064b50).u32(0).u64(rec).u32(1);
  }
  const comment = ascii(options.comment ?? '');
  w.u32(0x06054b50).u16(0).u16(0).u16(z64 ? 0xffff : files.length).u16(z64 ? 0xffff : files.length)
    .u32(z64 ? 0xffffffff : cd.length).u32(z64 ? 0xffffffff : cdOffset).u16(comment.length).raw(comment);
  return w.done();
}

/** A pickle assembler: each method appends one opcode (protocol 2 unless noted). */
export class PickleBuilder {
  private readonly w = new ByteWriter();
  private memo = 0;
  op(code: number, ...args: number[]) { this.w.u8(code); for (const a of args) this.w.u8(a); return this; }
  proto(v = 2) { return this.op(0x80, v); }
  mark() { return this.op(0x28); }
  stop() { return this.op(0x2e); }
  emptyDict() { return this.op(0x7d); }
  emptyList() { return this.op(0x5d); }
  emptyTuple() { return this.op(0x29); }
  none() { return this.op(0x4e); }
  bool(v: boolean) { return this.op(v ? 0x88 : 0x89); }
  tuple() { return this.op(0x74); }
  tupleN(n: 1 | 2 | 3) { return this.op(0x84 + n); }
  setitems() { return this.op(0x75); }
  appends() { return this.op(0x65); }
  reduce() { return this.op(0x52); }
  newobj() { return this.op(0x81); }
  build() { return this.op(0x62); }
  binpersid() { return this.op(0x51); }
  /** BINPUT with the next memo slot; returns the slot through `slot`. */
  put(slot?: (n: number) => void) { slot?.(this.memo); return this.op(0x71, this.memo++); }
  get(n: number) { return this.op(0x68, n); }
  int(v: number) {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= 0 && v < 65536) return this.op(0x4d, v & 0xff, v >> 8);
    this.w.u8(0x4a).u32(v >>> 0);
    return this;
  }
  float(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.w.u8(0x47).raw(b);
    return this;
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.w.u8(0x58).u32(b.length).raw(b);
    return this;
  }
  global(module: string, name: string) { this.w.u8(0x63).raw(ascii(`${module}\n${name}\n`)); return this; }
  raw(b: Uint8Array) { this.w.raw(b); return this; }
  bytes() { return this.w.done(); }
}

export interface TensorSpec {
  storage: string;
  type?: string; // FloatStorage
  numel: number;
  offset?: number;
  size: number[];
  stride: number[];
  /** Wrap in torch._utils._rebuild_parameter, as a saved nn.Parameter is. */
  parameter?: boolean;
}

/** Emits `_rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict())`. */
export function emitTensor(p: PickleBuilder, t: TensorSpec): PickleBuilder {
  if (t.parameter) p.global('torch._utils', '_rebuild_parameter').mark();
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', t.type ?? 'FloatStorage').str(t.storage).str('cpu').int(t.numel).tuple().binpersid();
  p.int(t.offset ?? 0);
  p.mark(); for (const d of t.size) p.int(d); p.tuple();
  p.mark(); for (const d of t.stride) p.int(d); p.tuple();
  p.bool(false).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  if (t.parameter) p.bool(true).global('collections', 'OrderedDict').emptyTuple().reduce().tuple().reduce();
  return p;
}

/**
 * The pickle of {'epoch', 'model': [state dicts], 'best_rsum', 'opt': Namespace(**opt), 'Eiters'},
 * as the NAAF training script saves it.
 */
export function checkpointPickle(model: Record<string, TensorSpec>[], opt: Record<string, number | string | boolean>, extra?: (p: PickleBuilder) => void): Uint8Array {
  const p = new PickleBuilder().proto(2).emptyDict().mark();
  p.str('epoch').int(3);
  p.str('model').emptyList().mark();
  for (const sd of model) {
    p.global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    for (const [k, t] of Object.entries(sd)) emitTensor(p.str(k), t);
    p.setitems();
  }
  p.appends();
  p.str('best_rsum').float(12.5);
  p.str('opt').global('argparse', 'Namespace').emptyTuple().newobj().emptyDict().mark();
  for (const [k, v] of Object.entries(opt)) {
    p.str(k);
    if (typeof v === 'string') p.str(v);
    else if (typeof v === 'boolean') p.bool(v);
    else if (Number.isInteger(v)) p.int(v);
    else p.float(v);
  }
  p.setitems().build();
  p.str('Eiters').int(77);
  extra?.(p);
  return p.setitems().stop().bytes();
}

/** A torch zip checkpoint: `<root>/data.pkl`, `<root>/data/<key>` storages, `<root>/version`. */
export function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, options: { root?: string; deflate?: boolean; zip64?: boolean; byteorder?: string } = {}): Uint8Array {
  const root = options.root ?? 'archive';
  const files: ZipInput[] = [{ name: `${root}/data.pkl`, data: pkl, deflate: options.deflate }];
  if (options.byteorder) files.push({ name: `${root}/byteorder`, data: ascii(options.byteorder) });
  for (const [k, v] of Object.entries(storages)) files.push({ name: `${root}/data/${k}`, data: v, deflate: options.deflate });
  files.push({ name: `${root}/version`, data: ascii('3\n') });
  return makeZip(files, { zip64: options.zip64 });
}
