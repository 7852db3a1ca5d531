import { describe, expect, it, vi } from 'vitest';
import { type GlobalTable, PyGlobal, pickleAttributes, unpickle } from '../../src/io/pickle.js';
import { standardGlobals } from '../../src/io/pickle-globals.js';
import { ascii, concat, hexBytes, PickleBuilder } from './builders.js';

// Made by Python 3.11 + numpy 2 once, embedded so the tests need neither:
//   ns = argparse.Namespace(lr=np.float64(0.5), name='naaf', flag=True, none=None, big=2**70, neg=-5,
//                           tup=(1, 2.5), raw=b'\x00\xffab', lst=[1, [2]], d={'k': 1, 2: 'two'})
//   pickle.dumps(ns, protocol=P).hex()
const NAMESPACE: Record<number, string> = {
  0: '63636f70795f7265670a5f7265636f6e7374727563746f720a70300a286361726770617273650a4e616d6573706163650a70310a635f5f6275696c74696e5f5f0a6f626a6563740a70320a4e7470330a5270340a286470350a566c720a70360a636e756d70792e5f636f72652e6d756c746961727261790a7363616c61720a70370a28636e756d70790a64747970650a70380a285666380a70390a4930300a4930310a747031300a527031310a2849330a563c0a7031320a4e4e4e492d310a492d310a49300a747031330a62635f636f646563730a656e636f64650a7031340a28565c75303030305c75303030305c75303030305c75303030305c75303030305c7530303030e03f0a7031350a566c6174696e310a7031360a747031370a527031380a747031390a527032300a73566e616d650a7032310a566e6161660a7032320a7356666c61670a7032330a4930310a73566e6f6e650a7032340a4e73566269670a7032350a4c313138303539313632303731373431313330333432344c0a73566e65670a7032360a492d350a73567475700a7032370a2849310a46322e350a747032380a73567261770a7032390a6731340a28565c7530303030ff61620a7033300a6731360a747033310a527033320a73566c73740a7033330a286c7033340a49310a61286c7033350a49320a61617356640a7033360a28647033370a566b0a7033380a49310a7349320a5674776f0a7033390a7373622e',
  2: '80026361726770617273650a4e616d6573706163650a7100298171017d71022858020000006c727103636e756d70792e5f636f72652e6d756c746961727261790a7363616c61720a7104636e756d70790a64747970650a71055802000000663871068988877107527108284b0358010000003c71094e4e4e4affffffff4affffffff4b0074710a62635f636f646563730a656e636f64650a710b5809000000000000000000c3a03f710c58060000006c6174696e31710d86710e52710f86711052711158040000006e616d65711258040000006e61616671135804000000666c616771148858040000006e6f6e6571154e580300000062696771168a0900000000000000004058030000006e656771174afbffffff580300000074757071184b014740040000000000008671195803000000726177711a680b580500000000c3bf6162711b680d86711c52711d58030000006c7374711e5d711f284b015d71204b02616558010000006471217d71222858010000006b71234b014b02580300000074776f71247575622e',
  4: '80049511010000000000008c086172677061727365948c094e616d6573706163659493942981947d94288c026c72948c166e756d70792e5f636f72652e6d756c74696172726179948c067363616c61729493948c056e756d7079948c0564747970659493948c02663894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624308000000000000e03f94869452948c046e616d65948c046e616166948c04666c616794888c046e6f6e65944e8c03626967948a090000000000000000408c036e6567944afbffffff8c03747570944b0147400400000000000086948c0372617794430400ff6162948c036c7374945d94284b015d944b0261658c0164947d94288c016b944b014b028c0374776f947575622e',
};
// {'s': {1,2}, 'fs': frozenset([3]), 'od': OrderedDict(b=1, a=2), 'by': bytearray(b'xy'), 'f': +-inf}
const COLLECTIONS_P2 = '80027d7100285801000000737101635f5f6275696c74696e5f5f0a7365740a71025d7103284b014b0265857104527105580200000066737106635f5f6275696c74696e5f5f0a66726f7a656e7365740a71075d71084b036185710952710a58020000006f64710b63636f6c6c656374696f6e730a4f726465726564446963740a710c2952710d28580100000062710e4b01580100000061710f4b0275580200000062797110635f5f6275696c74696e5f5f0a6279746561727261790a7111635f636f646563730a656e636f64650a711258020000007879711358060000006c6174696e3171148671155271168571175271185801000000667119477ff0000000000000752e';
const COLLECTIONS_P5 = '8005956d000000000000007d94288c0173948f94284b014b02908c02667394284b0391948c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0162944b018c0161944b02758c026279949602000000000000007879948c01669447fff0000000000000752e';
// Protocol 0: sets, OrderedDict, unicode with escapes, float, longs, bytes via _codecs.
const COLLECTIONS_P0 = '286470300a56730a70310a635f5f6275696c74696e5f5f0a7365740a70320a28286c70330a49310a6149320a617470340a5270350a735666730a70360a635f5f6275696c74696e5f5f0a66726f7a656e7365740a70370a28286c70380a49330a617470390a527031300a73566f640a7031310a63636f6c6c656374696f6e730a4f726465726564446963740a7031320a2874527031330a56620a7031340a49310a7356610a7031350a49320a737356750a7031360a5668e95c75346531365c5530303031663630300a7031370a7356660a7031380a46312e350a73566c0a7031390a4c313039393531313632373737364c0a73566e65670a7032300a4c2d313138303539313632303731373431313330333432344c0a735662730a7032310a635f636f646563730a656e636f64650a7032320a28565c7530303030ff0a7032330a566c6174696e310a7032340a747032350a527032360a732e';

const load = (hex: string) => unpickle(hexBytes(hex), { globals: standardGlobals });

describe('unpickle values', () => {
  for (const proto of [0, 2, 4]) {
    it(`reads an argparse.Namespace with numpy and python values (protocol ${proto})`, () => {
      const ns = load(NAMESPACE[proto]!) as Record<string, unknown>;
      expect(ns).toEqual({
        lr: 0.5, name: 'naaf', flag: true, none: null, big: 2n ** 70n, neg: -5,
        tup: [1, 2.5], raw: Uint8Array.from([0, 255, 0x61, 0x62]), lst: [1, [2]], d: new Map<unknown, unknown>([['k', 1], [2, 'two']]),
      });
      expect(Object.isFrozen(ns.tup)).toBe(true); // tuples are frozen arrays
      expect(Object.isFrozen(ns.lst)).toBe(false);
    });
  }

  it('reads sets, an OrderedDict, bytearray and infinities (protocols 2 and 5)', () => {
    for (const [hex, inf] of [[COLLECTIONS_P2, Infinity], [COLLECTIONS_P5, -Infinity]] as const) {
      const v = load(hex) as Map<string, unknown>;
      expect(v.get('s')).toEqual(new Set([1, 2]));
      expect(v.get('fs')).toEqual(new Set([3]));
      expect([...(v.get('od') as Map<string, number>)]).toEqual([['b', 1], ['a', 2]]);
      expect(v.get('by')).toEqual(ascii('xy'));
      expect(v.get('f')).toBe(inf);
    }
  });

  it('reads protocol-0 text opcodes', () => {
    const v = load(COLLECTIONS_P0) as Map<string, unknown>;
    expect(v.get('s')).toEqual(new Set([1, 2]));
    expect([...(v.get('od') as Map<string, number>).keys()]).toEqual(['b', 'a']);
    expect(v.get('u')).toBe('h\u00e9\u4e16\u{1F600}');
    expect(v.get('f')).toBe(1.5);
    expect(v.get('l')).toBe(2 ** 40);
    expect(v.get('neg')).toBe(-(2n ** 70n));
    expect(v.get('bs')).toEqual(Uint8Array.from([0, 255]));
    // UNICODE is raw-unicode-escape: bytes 0x80-0x9f are code points, not windows-1252.
    expect(load('56809fff5c75303130300a70300a2e')).toBe('\x80\x9f\xff\u0100');
  });

  it('reads protocol 1 (binary, with MARK-based tuples and APPENDS)', () => {
    expect(load('5d7100284b01284b027471017d710258010000007871034e73652e')).toEqual([1, [2], new Map([['x', null]])]);
  });

  it('handles memo, DUP, POP, POP_MARK, LONG1, TUPLE3, SHORT_BINSTRING and BINBYTES', () => {
    const p = new PickleBuilder().proto(2).mark()
      .op(0x8a, 2, 0x00, 0x80) // LONG1 -32768
      .op(0x8a, 0) // LONG1 0
      .int(-2) // BININT
      .op(0x55, 2, 0x68, 0x69) // SHORT_BINSTRING 'hi'
      .op(0x72, 5, 0, 0, 0) // LONG_BINPUT 5
      .op(0x30) // POP
      .op(0x6a, 5, 0, 0, 0) // LONG_BINGET 5
      .op(0x32) // DUP
      .op(0x87) // TUPLE3 of the last three
      .mark().int(9).op(0x31) // POP_MARK drops [9]
      .op(0x42, 3, 0, 0, 0, 1, 2, 3) // BINBYTES
      .op(0x6c); // LIST
    expect(unpickle(p.stop().bytes(), { globals: {} })).toEqual([-32768, 0, [-2, 'hi', 'hi'], Uint8Array.from([1, 2, 3])]);
  });

  it('keeps an OrderedDict BUILD state (a state_dict _metadata) next to the Map', () => {
    const p = new PickleBuilder().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce()
      .mark().str('w').int(1).setitems()
      .emptyDict().str('_metadata').int(7).op(0x73).build().stop();
    const d = unpickle(p.bytes(), { globals: standardGlobals }) as Map<string, number>;
    expect([...d]).toEqual([['w', 1]]);
    expect(pickleAttributes(d)).toEqual(new Map([['_metadata', 7]]));
  });

  it('gives a Namespace attribute named __proto__ as an own property, not a prototype', () => {
    const p = new PickleBuilder().proto(2).global('argparse', 'Namespace').emptyTuple().newobj()
      .emptyDict().str('__proto__').str('x').op(0x73).build().stop();
    const ns = unpickle(p.bytes(), { globals: standardGlobals }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(ns)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(ns, '__proto__')?.value).toBe('x');
  });

  it('passes persistent ids to persistentLoad and allowlisted globals as data', () => {
    const persistentLoad = vi.fn((pid: unknown) => ({ loaded: pid }));
    const p = new PickleBuilder().proto(2).mark().str('storage').global('torch', 'FloatStorage').str('0').tuple().binpersid().stop();
    const v = unpickle(p.bytes(), { globals: { 'torch FloatStorage': {} }, persistentLoad }) as { loaded: unknown[] };
    expect(persistentLoad).toHaveBeenCalledTimes(1);
    expect(v.loaded[0]).toBe('storage');
    expect(v.loaded[1]).toBeInstanceOf(PyGlobal);
    expect((v.loaded[1] as PyGlobal).qualifiedName).toBe('torch.FloatStorage');
  });
});

describe('unpickle refuses what it must not run', () => {
  const spy = () => vi.fn(() => new Map());
  const spies = () => {
    const call = spy();
    const construct = spy();
    const persistentLoad = vi.fn();
    const globals: GlobalTable = { 'collections OrderedDict': { call, construct } };
    return { call, construct, persistentLoad, globals };
  };

  it("refuses protocol 0 `os.system('echo pwned')` at the GLOBAL, before any argument is read", () => {
    const s = spies();
    const bytes = ascii("cos\nsystem\n(S'echo pwned'\ntR.");
    expect(() => unpickle(bytes, { globals: s.globals, persistentLoad: s.persistentLoad }))
      .toThrow(/refusing global 'os\.system': not in the allowlist.*nothing was executed \(opcode 0x63 at offset 0\)/);
    expect(s.call).not.toHaveBeenCalled();
    expect(s.construct).not.toHaveBeenCalled();
    expect(s.persistentLoad).not.toHaveBeenCalled();
  });

  it('refuses a protocol 2 posix.system REDUCE even after allowlisted globals were used', () => {
    const s = spies();
    const prefix = new PickleBuilder().proto(2).global('collections', 'OrderedDict').op(0x30).bytes(); // push, then POP
    const evil = new PickleBuilder().global('posix', 'system').put().str('echo pwned').put().tupleN(1).reduce().stop().bytes();
    expect(() => unpickle(concat([prefix, evil]), { globals: s.globals }))
      .toThrow(/refusing global 'posix\.system'.*offset 28/);
    expect(s.call).not.toHaveBeenCalled();
  });

  it('refuses builtins.eval through STACK_GLOBAL (protocol 4) and subprocess.Popen through INST', () => {
    const s = spies();
    const stackGlobal = hexBytes('80048c086275696c74696e73948c046576616c9493942e');
    expect(() => unpickle(stackGlobal, { globals: s.globals })).toThrow(/refusing global 'builtins\.eval'/);
    const inst = ascii("(S'ls'\nisubprocess\nPopen\n.");
    expect(() => unpickle(inst, { globals: s.globals })).toThrow(/refusing global 'subprocess\.Popen'/);
    expect(s.call).not.toHaveBeenCalled();
  });

  it('refuses prototype names and extension-registry globals', () => {
    expect(() => unpickle(ascii('cbuiltins\nconstructor\n.'), { globals: { 'builtins object': {} } })).toThrow(/refusing global 'builtins\.constructor'/);
    expect(() => unpickle(hexBytes('80028201'), { globals: standardGlobals })).toThrow(/extension-registry/);
  });

  it('refuses to call a global that is allowlisted as data only', () => {
    const p = new PickleBuilder().proto(2).global('torch', 'FloatStorage').emptyTuple().reduce().stop();
    expect(() => unpickle(p.bytes(), { globals: { 'torch FloatStorage': {} } })).toThrow(/'torch\.FloatStorage' is allowed as data only/);
  });

  it('refuses persistent ids without a persistentLoad', () => {
    expect(() => unpickle(hexBytes('80024b01512e'), { globals: {} })).toThrow(/persistent id found but no persistentLoad/);
  });
});

describe('unpickle on malformed data', () => {
  it('names an unknown opcode and its offset', () => {
    expect(() => unpickle(hexBytes('80024b01ff2e'), { globals: {}, label: 'x.pkl' })).toThrow(/^x\.pkl: unknown or unsupported pickle opcode 0xff \(opcode 0xff at offset 4\)/);
  });

  it('reports truncation, underflow and a missing STOP', () => {
    expect(() => unpickle(hexBytes('800258ff000000'), { globals: {} })).toThrow(/truncated: needs 255 more bytes, 0 left/);
    expect(() => unpickle(hexBytes('80024b01'), { globals: {} })).toThrow(/truncated/);
    expect(() => unpickle(hexBytes('800286'), { globals: {} })).toThrow(/stack underflow/);
    expect(() => unpickle(hexBytes('8002682e'), { globals: {} })).toThrow(/truncated|memo key/);
    expect(() => unpickle(hexBytes('800268072e'), { globals: {} })).toThrow(/memo key 7 was never stored/);
    expect(() => unpickle(hexBytes('80064b012e'), { globals: {} })).toThrow(/unsupported pickle protocol 6/);
    expect(() => unpickle(hexBytes('80024b014b022e'), { globals: {} })).toThrow(/STOP with 2 values/);
  });

  it('refuses appending to a tuple and setting items on a list', () => {
    expect(() => unpickle(hexBytes('8002294b01612e'), { globals: {} })).toThrow(/expected a list to append to, found tuple/);
    expect(() => unpickle(hexBytes('80025d4b014b02732e'), { globals: {} })).toThrow(/expected a dict, found list/);
  });
});
