// The caption tokenizer of the SCAN and NAAF Python code:
//   tokens = nltk.tokenize.word_tokenize(caption.lower())
// word_tokenize (nltk 3.x, English, preserve_line=False) is Punkt sentence splitting (punkt.ts)
// followed by NLTKWordTokenizer (nltk/tokenize/destructive.py, the improved Treebank
// tokenizer) on each sentence. The regexes below are that tokenizer's, in its order, as of
// nltk 3.10; Python's Unicode \w, \d, \s, \b and $ are spelled out because JS's differ.
//
// Older nltk releases (3.8 among them) differ in one rule that captions can hit: an opening
// apostrophe was split off only before a one-letter word, so "a 'no child" gave "'no" where
// nltk 3.10 gives "'", "no".
//
// Lower-casing: JS toLowerCase and Python str.lower both apply Unicode's full lower-case mapping
// (e.g. "İ" becomes "i̇", final sigma becomes "ς"); they can only differ where the two runtimes
// ship different Unicode versions.

import { PY_SPACE, splitSentences } from './punkt.js';

const S = `[${PY_SPACE}]`;
const W = '[\\p{L}\\p{N}_]'; // Python's \w on str
const END = '(?=\\n?$)'; // Python's $ without MULTILINE: the end, or before a final newline

type Rule = readonly [RegExp, string];
const rule = (pattern: string, flags: string, replacement: string): Rule => [new RegExp(pattern, flags), replacement];

const STARTING_QUOTES: readonly Rule[] = [
  [/([«“‘„]|`+)/gu, ' $1 '],
  [/^"/u, '``'],
  [/(``)/gu, ' $1 '],
  [/([ ([{<])("|'{2})/gu, '$1 `` '],
  // An opening apostrophe, unless it starts a clitic ('re, 've, 'll, 'm, 't, 's, 'd, 'n).
  rule(`(?<!${W})(')(?!(?:re|ve|ll|m|t|s|d|n)(?!${W}))(?=${W})`, 'giu', '$1 '),
];

const PUNCTUATION: readonly Rule[] = [
  rule(`([^.])(\\.)([\\])}>"'»”’ ]*)${S}*${END}`, 'gu', '$1 $2 $3 '),
  [/([:,])([^\p{Nd}])/gu, ' $1 $2'], // not inside numbers such as 37,000
  rule(`([:,])${END}`, 'gu', ' $1 '),
  [/\.{2,}/gu, ' $& '],
  [/[;@#$%&]/gu, ' $& '],
  [/[\u2012-\u2015]/gu, ' $& '], // figure, en and em dashes, horizontal bar
  rule(`([^.])(\\.)([\\])}>"']*)${S}*${END}`, 'gu', '$1 $2$3 '), // the final period
  [/[?!]/gu, ' $& '],
  [/([^'])' /gu, "$1 ' "],
  [/\*/gu, ' $& '],
];

const PARENS_BRACKETS: Rule = [/[\]\[(){}<>]/gu, ' $& '];
const DOUBLE_DASHES: Rule = [/--/gu, ' -- '];

const ENDING_QUOTES: readonly Rule[] = [
  [/([»”’])/gu, ' $1 '],
  [/''/gu, " '' "],
  [/"/gu, " '' "],
  rule(`${S}+`, 'gu', ' '),
  [/([^' ])('[sS]|'[mM]|'[dD]|') /gu, '$1 $2 '],
  [/([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) /gu, '$1 $2 '],
];

// Robert MacIntyre's contractions, split in two: "cannot" -> "can not", "gonna" -> "gon na", ...
const CONTRACTIONS: readonly Rule[] = [
  ...['(can)(not)', "(d)('ye)", '(gim)(me)', '(gon)(na)', '(got)(ta)', '(lem)(me)', "(more)('n)"].map((c) =>
    rule(`(?<!${W})${c}(?!${W})`, 'giu', ' $1 $2 '),
  ),
  rule(`(?<!${W})(wan)(na)(?=${S})`, 'giu', ' $1 $2 '),
  rule(` ('t)(is)(?!${W})`, 'giu', ' $1 $2 '),
  rule(` ('t)(was)(?!${W})`, 'giu', ' $1 $2 '),
];

const apply = (text: string, rules: readonly Rule[]): string =>
  rules.reduce((t, [re, replacement]) => t.replace(re, replacement), text);

/** NLTKWordTokenizer.tokenize(sentence) with the defaults word_tokenize uses. */
export function treebankWords(sentence: string): string[] {
  let text = apply(sentence, STARTING_QUOTES);
  text = apply(text, PUNCTUATION);
  text = apply(text, [PARENS_BRACKETS, DOUBLE_DASHES]);
  text = apply(` ${text} `, ENDING_QUOTES);
  text = apply(text, CONTRACTIONS);
  return text.split(new RegExp(`${S}+`, 'u')).filter((t) => t !== '');
}

/** nltk.tokenize.word_tokenize(caption.lower()), as SCAN and NAAF tokenize captions. */
export function tokenize(caption: string): string[] {
  return splitSentences(caption.toLowerCase()).flatMap(treebankWords);
}
