// Caption tokenization against nltk's word_tokenize and both vocabularies.
// tokenized_sample.json holds 500 Flickr30K test captions with the tokens nltk produced for the
// lower-cased caption and the id sequences of the SCAN and NAAF vocabularies.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { splitSentences } from '../../src/data/punkt.js';
import { tokenize } from '../../src/data/tokenize.js';
import { Vocabulary } from '../../src/data/vocab.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/f30k/${name}`, import.meta.url), 'utf8');

interface Row {
  index: number;
  caption: string;
  tokens: string[];
  scan_ids: number[];
  glove_ids: number[];
}
const sample = JSON.parse(fixture('tokenized_sample.json')) as { rows: Row[] };
const scan = Vocabulary.fromJSON(fixture('f30k_precomp_vocab.json'));
const glove = Vocabulary.fromJSON(JSON.parse(fixture('f30k_precomp.json')) as object);

describe('the 500 sample captions', () => {
  it('has 500 rows', () => expect(sample.rows).toHaveLength(500));

  it('tokenize gives the nltk tokens', () => {
    const wrong = sample.rows.filter((r) => JSON.stringify(tokenize(r.caption)) !== JSON.stringify(r.tokens));
    expect(wrong.map((r) => [r.index, r.caption, tokenize(r.caption), r.tokens])).toEqual([]);
  });

  it('encode gives the SCAN ids', () => {
    const wrong = sample.rows.filter((r) => JSON.stringify(scan.encode(r.caption)) !== JSON.stringify(r.scan_ids));
    expect(wrong.map((r) => r.index)).toEqual([]);
  });

  it('encode gives the NAAF (GloVe) ids', () => {
    const wrong = sample.rows.filter((r) => JSON.stringify(glove.encode(r.caption)) !== JSON.stringify(r.glove_ids));
    expect(wrong.map((r) => r.index)).toEqual([]);
  });
});

describe('tokenize edge cases (outputs of nltk 3.10 word_tokenize)', () => {
  const cases: [string, string[]][] = [
    // Quotes after a space open (``), other double quotes close ('').
    ['A man holds a sign saying " Hello , world " .', ['a', 'man', 'holds', 'a', 'sign', 'saying', '``', 'hello', ',', 'world', '``', '.']],
    ['"Quoted" at the start , then \'\'doubled\'\' quotes .', ['``', 'quoted', "''", 'at', 'the', 'start', ',', 'then', '``', 'doubled', "''", 'quotes', '.']],
    ["He can't stop , she cannot stop , they won't stop .", ['he', 'ca', "n't", 'stop', ',', 'she', 'can', 'not', 'stop', ',', 'they', 'wo', "n't", 'stop', '.']],
    [
      "It's the dog's bone ; we're sure they'll like it , I'm told , I'd say , they've won .",
      ['it', "'s", 'the', 'dog', "'s", 'bone', ';', 'we', "'re", 'sure', 'they', "'ll", 'like', 'it', ',', 'i', "'m", 'told', ',', 'i', "'d", 'say', ',', 'they', "'ve", 'won', '.'],
    ],
    ["A man sits beneath a 'no child left behind ' poster .", ['a', 'man', 'sits', 'beneath', 'a', "'", 'no', 'child', 'left', 'behind', "'", 'poster', '.']],
    ["rock 'n' roll at the parents ' house , o'clock .", ['rock', "'n", "'", 'roll', 'at', 'the', 'parents', "'", 'house', ',', "o'clock", '.']],
    ["Gonna wanna gimme lemme gotta 'tis 'twas d'ye more'n .", ['gon', 'na', 'wan', 'na', 'gim', 'me', 'lem', 'me', 'got', 'ta', "'", 'tis', "'", 'twas', 'd', "'ye", 'more', "'n", '.']],
    ['A man ( in white ) holds a $ 37,000 check at 1:30 , 3.5 feet away .', ['a', 'man', '(', 'in', 'white', ')', 'holds', 'a', '$', '37,000', 'check', 'at', '1:30', ',', '3.5', 'feet', 'away', '.']],
    ['A Texas A&M player , # 8 , wears an I<3NY shirt ; wow !', ['a', 'texas', 'a', '&', 'm', 'player', ',', '#', '8', ',', 'wears', 'an', 'i', '<', '3ny', 'shirt', ';', 'wow', '!']],
    ['Wait... what -- really ?', ['wait', '...', 'what', '--', 'really', '?']],
    ['He said “hi” and ‘bye’ – twice — then left .', ['he', 'said', '“', 'hi', '”', 'and', '‘', 'bye', '’', '–', 'twice', '—', 'then', 'left', '.']],
    // Sentence splits: the period before a new sentence becomes a token of its own ...
    ['A man walks past a sign that says E.S.E. Electronics .', ['a', 'man', 'walks', 'past', 'a', 'sign', 'that', 'says', 'e.s.e', '.', 'electronics', '.']],
    ['A white woman holding a check for " Kids Food Basket . " .', ['a', 'white', 'woman', 'holding', 'a', 'check', 'for', '``', 'kids', 'food', 'basket', '.', '``', '.']],
    ['Where is the rest of his racket ? .', ['where', 'is', 'the', 'rest', 'of', 'his', 'racket', '?', '.']],
    ['(Sent1.) Sent2.', ['(', 'sent1', '.', ')', 'sent2', '.']],
    // ... but not after an abbreviation of the English Punkt model.
    ["A woman dressed in green for St. Patrick 's day .", ['a', 'woman', 'dressed', 'in', 'green', 'for', 'st.', 'patrick', "'s", 'day', '.']],
    ['The U.S. team wins .', ['the', 'u.s.', 'team', 'wins', '.']],
    ['', []],
    ['   ', []],
  ];
  it.each(cases)('%j', (caption, tokens) => expect(tokenize(caption)).toEqual(tokens));

  it('splitSentences keeps closing punctuation with its sentence', () => {
    expect(splitSentences('(sent1.) sent2.')).toEqual(['(sent1.)', 'sent2.']);
    expect(splitSentences('what?! really')).toEqual(['what?!', 'really']);
    expect(splitSentences('the st. bernard')).toEqual(['the st. bernard']);
  });
});

describe('Vocabulary', () => {
  it('tells the two files apart and numbers the special tokens', () => {
    expect([scan.flavour, scan.size, scan.padId, scan.startId, scan.endId, scan.unkId]).toEqual(['scan', 8481, 0, 1, 2, 3]);
    expect([glove.flavour, glove.size, glove.padId, glove.startId, glove.endId, glove.unkId]).toEqual(['glove', 8347, 0, 2, 3, 1]);
  });

  it('maps words to ids and back, unknown words to <unk>', () => {
    for (const v of [scan, glove]) {
      for (const w of ['man', '.', "n't", '<start>']) expect(v.word(v.id(w))).toBe(w);
      expect(v.id('qwertyuiop')).toBe(v.unkId);
      expect(v.id('constructor')).toBe(v.unkId);
      expect(v.id('__proto__')).toBe(v.unkId);
      expect(v.encode('')).toEqual([v.startId, v.endId]);
    }
    expect(() => scan.word(scan.size)).toThrow(/Vocabulary.word: id: expected an integer in 0..8480, got 8481/);
    expect(() => scan.word(1.5)).toThrow(/got 1.5/);
  });

  it('takes JSON text or a parsed object, and words that are Object.prototype names', () => {
    const words = { '<pad>': 0, '<unk>': 1, '<start>': 2, '<end>': 3, constructor: 4 };
    const v = Vocabulary.fromJSON(JSON.stringify({ word2idx: words }));
    expect(v.flavour).toBe('glove');
    expect(v.id('constructor')).toBe(4);
    expect(Vocabulary.fromJSON({ word2idx: words }).word(4)).toBe('constructor');
    expect(Vocabulary.fromJSON('{"word2idx": {"<pad>": 0, "<start>": 1, "<end>": 2, "<unk>": 3, "__proto__": 4}}').id('__proto__')).toBe(4);
  });

  const special = { '<pad>': 0, '<start>': 1, '<end>': 2, '<unk>': 3 };
  const errors: [string, string | object, RegExp][] = [
    ['not JSON', '{"word2idx": ', /json: expected JSON text, got text that does not parse/],
    ['not an object', '[1, 2]', /json: expected an object with a word2idx object, got an array/],
    ['null', 'null', /json: expected an object with a word2idx object, got null/],
    ['no word2idx', { idx2word: {} }, /json.word2idx: expected an object mapping words to ids, got nothing/],
    ['word2idx not an object', { word2idx: 'a b' }, /json.word2idx: expected an object mapping words to ids, got string "a b"/],
    ['a missing special token', { word2idx: { '<pad>': 0, '<start>': 1, '<end>': 2, a: 3 } }, /json.word2idx\["<unk>"\]: expected a special token id, got nothing/],
    ['duplicate ids', { word2idx: { ...special, a: 4, b: 4 } }, /json.word2idx\["a"\]: expected an id no other word has, got 4, the id of "b"|json.word2idx\["b"\]: expected an id no other word has, got 4, the id of "a"/],
    ['an id past the end', { word2idx: { ...special, a: 7 } }, /json.word2idx\["a"\]: expected an integer id in 0..4 .*, got number 7/],
    ['a negative id', { word2idx: { ...special, a: -1 } }, /json.word2idx\["a"\]: expected an integer id in 0..4 .*, got number -1/],
    ['a fractional id', { word2idx: { ...special, a: 4.5 } }, /got number 4.5/],
    ['a string id', { word2idx: { ...special, a: '4' } }, /json.word2idx\["a"\]: expected an integer id .*, got string "4"/],
    [
      'special ids of neither file',
      { word2idx: { '<pad>': 0, '<start>': 3, '<end>': 2, '<unk>': 1 } },
      /json.word2idx: expected the special ids of SCAN .* or NAAF .*, got <pad>=0 <start>=3 <end>=2 <unk>=1/,
    ],
  ];
  it.each(errors)('rejects %s', (_name, json, message) => {
    expect(() => Vocabulary.fromJSON(json)).toThrow(message);
  });
});
