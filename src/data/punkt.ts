// Sentence splitting as nltk 3.x `sent_tokenize(text)` does it with the English Punkt model
// (nltk/tokenize/punkt.py, PunktSentenceTokenizer.span_tokenize), ported for lower-cased,
// one-line image captions. word_tokenize runs it first, and its main visible effect is that a
// sentence-final "." inside a caption ("... e.s.e. electronics") becomes a token of its own.
//
// Implemented as in nltk: the candidate contexts (period_context_re and
// _match_potential_end_contexts, including its overlap rule), Punkt's own word regex, the first
// pass (".", "?", "!" break; ellipses; known abbreviations, also after a "-"), the second pass
// for initials and numbers and its special upper-case initial rule, text_contains_sentbreak,
// _slices_from_text and _realign_boundaries (closing quotes and brackets stay with the
// sentence before them).
//
// Parameters of the English model: abbrev_types is copied in full (the list an nltk maintainer
// printed in nltk issue #2500; captions never break after "st.", "mr.", "u.s." and the like).
// Left out: collocations, sent_starters and ortho_context, so every word counts as never seen.
// That changes nothing for lower-case text except in two rare cases. (1) A single letter or a
// number with a period ("a.", "3.") followed by a lower-case word never breaks here; nltk breaks
// when the English data saw that word start a sentence in lower case and never in upper case.
// (2) A learned collocation (a period word followed by a certain word) never breaks in nltk but
// breaks here. Sentence starters only matter before upper-case words.

/** Python's str whitespace (str.isspace, re's \s on str); JS \s adds \ufeff and lacks \x1c-\x1f, \x85. */
export const PY_SPACE = '\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const S = `[${PY_SPACE}]`;
const NS = `[^${PY_SPACE}]`;

// Python's str.rstrip() and str.strip().
const TRAILING_SPACE = new RegExp(`${S}+$`, 'u');
const pyRstrip = (s: string): string => s.replace(TRAILING_SPACE, '');
const BLANK = new RegExp(`^${S}*$`, 'u');
const isBlank = (s: string): boolean => BLANK.test(s);

/** abbrev_types of nltk's English Punkt model. */
const ABBREVIATIONS: ReadonlySet<string> = new Set(
  ('ore d e.f dec f.g n.d mg n.j sen n g.d v h.f mrs d.h a.c m.b.a wed s.a prof vt e c.o.m.b u.n ' +
    'c.v ave p.m feb wis e.l st d.c va calif w h fla dr l r colo a.h ms u.s.s.r l.a m r.j b.f n.m ' +
    'aug mich tues a.a j.p a.g rep s.c n.y r.a r.h sw chg okla g.k ariz ok vs ft a.t s.g bros u.s.a ' +
    'ky i.m.s gen t reps e.h ala messrs s.a.y fri u.k jr inc ga ph.d sept ill n.v c.i.t lt e.m j.c ' +
    'wash m.d.c kan r.t tenn k d.w jan w.w w.r r.i s.s l.f s.p.a pa b.v c w.c f r.k s g.f j.r w.va ' +
    'mr corp f.j conn h.c a.m cos a.d j.j j.b yr col nov u.s a.m.e p.a.m cie n.h sep ct a.s m.j t.j ' +
    'h.m n.c adm l.p co minn ltd p oct nev sr maj g j.k')
    .split(' ')
    .concat(['. . ']), // so that a spaced ellipsis ". . ." is not a sentence end
);

// PunktLanguageVars: characters that cannot be inside a word, multi-character punctuation, and
// characters that cannot start a word (\x60 is the backtick).
const NON_WORD = `[)";}\\]*:@'({[\\u2018\\u2019\\u201c\\u201d\\xab\\xbb?!]`;
const MULTI_CHAR = `(?:-{2,}|\\.{2,}|(?:\\.${S}){2,}\\.)`;
const WORD_START = `[^("\\x60{\\[:;&#*@)}\\]\\-,]`;
const PUNKT_WORD = new RegExp(
  `${MULTI_CHAR}|(?=${WORD_START})${NS}+?(?=${S}|$|${NON_WORD}|${MULTI_CHAR}|,(?=$|${S}|${NON_WORD}|${MULTI_CHAR}))|${NS}`,
  'gu',
);
// A possible sentence end, followed by punctuation (group 1) or by space and a token (group 2).
const PERIOD_CONTEXT = new RegExp(`[.?!](?=(${NON_WORD}|${S}+(${NS}+)))`, 'gu');
// Closing punctuation after a sentence end that belongs to that sentence.
const REALIGN = new RegExp(`^["')\\]}\\u2018\\u2019\\u201c\\u201d\\xab\\xbb]+?(?:${S}+|(?=--)|(?=\\n|$))`, 'u');

const NUMERIC = /^-?[.,]?\p{Nd}[\p{Nd},.-]*\.?$/u;
const INITIAL = /^[\p{L}\p{Nl}\p{No}_]\.$/u; // Python's [^\W\d]\.
const PUNCTUATION = new Set([';', ':', ',', '.', '!', '?']);

interface Token {
  tok: string;
  type: string; // lower case, numbers as ##number##
  sentbreak: boolean;
  abbr: boolean;
}

function annotate(words: string[]): Token[] {
  const toks = words.map((tok): Token => {
    const type = tok.toLowerCase().replace(NUMERIC, '##number##');
    let sentbreak = false;
    let abbr = false;
    // First pass: by the token alone (an ellipsis "..." is neither a break nor an abbreviation).
    if (tok === '.' || tok === '?' || tok === '!') sentbreak = true;
    else if (tok.endsWith('.') && !tok.endsWith('..')) {
      const w = tok.slice(0, -1).toLowerCase();
      if (ABBREVIATIONS.has(w) || ABBREVIATIONS.has(w.split('-').pop() ?? '')) abbr = true;
      else sentbreak = true;
    }
    return { tok, type, sentbreak, abbr };
  });
  // Second pass: a period-final token looks at the next one. With no ortho_context the
  // orthographic heuristic never says "starts a sentence", so abbreviations and ellipses keep
  // their first-pass decision; only initials and numbers can lose their break.
  for (let i = 0; i + 1 < toks.length; i++) {
    const t1 = toks[i]!;
    const t2 = toks[i + 1]!;
    if (!t1.tok.endsWith('.')) continue;
    const typ = t1.type.length > 1 && t1.type.endsWith('.') ? t1.type.slice(0, -1) : t1.type;
    const initial = INITIAL.test(t1.tok);
    if (!initial && typ !== '##number##') continue;
    // _ortho_heuristic: punctuation and lower-case words do not start sentences, else unknown.
    const notStarter = PUNCTUATION.has(t2.tok) || /^\p{Lowercase}/u.test(t2.tok);
    if (notStarter || (initial && /^\p{Uppercase}/u.test(t2.tok))) {
      t1.sentbreak = false;
      t1.abbr = true;
    }
  }
  return toks;
}

/** PunktSentenceTokenizer.text_contains_sentbreak: a break before the context's last token. */
function containsBreak(context: string): boolean {
  const words = context
    .split('\n')
    .filter((line) => !isBlank(line))
    .flatMap((line) => line.match(PUNKT_WORD) ?? []);
  const toks = annotate(words);
  return toks.slice(0, -1).some((t) => t.sentbreak);
}

/** Index of the last ASCII whitespace character, 0 if none (sic: also when it is at 0). */
function lastWhitespaceIndex(s: string): number {
  for (let i = s.length - 1; i >= 0; i--) if (' \t\n\r\v\f'.includes(s[i]!)) return i;
  return 0;
}

/** The sentences of `text`, as nltk's sent_tokenize (English) returns them. */
export function splitSentences(text: string): string[] {
  // _match_potential_end_contexts: each candidate with the word before it; a candidate whose
  // word overlaps the next candidate's word is dropped ("what?!" is decided at the "!").
  interface Candidate { end: number; next: number; context: string }
  const candidates: Candidate[] = [];
  let pending: Candidate | undefined;
  let wordStart = 0; // the previous candidate's word is text[wordStart, wordStop)
  let wordStop = 0;
  for (const m of text.matchAll(PERIOD_CONTEXT)) {
    const at = m.index;
    const after = m[1]!;
    const nextTok = m[2];
    const ws = lastWhitespaceIndex(text.slice(wordStop, at));
    const start = ws ? ws + wordStop + 1 : wordStart;
    if (pending && wordStop <= start) candidates.push(pending);
    const next = nextTok === undefined ? at + 1 : at + 1 + after.length - nextTok.length;
    pending = { end: at + 1, next, context: text.slice(start, at) + m[0] + after };
    wordStart = start;
    wordStop = at;
  }
  if (pending) candidates.push(pending);

  // _slices_from_text
  const slices: [number, number][] = [];
  let lastBreak = 0;
  for (const c of candidates) {
    if (!containsBreak(c.context)) continue;
    slices.push([lastBreak, c.end]);
    lastBreak = c.next;
  }
  slices.push([lastBreak, pyRstrip(text).length]);

  // _realign_boundaries
  const out: string[] = [];
  let realign = 0;
  for (let i = 0; i < slices.length; i++) {
    const start = slices[i]![0] + realign;
    const stop = slices[i]![1];
    const next = slices[i + 1];
    const m = next ? REALIGN.exec(text.slice(next[0], next[1])) : null;
    if (next && m) {
      out.push(text.slice(start, next[0] + pyRstrip(m[0]).length));
      realign = m[0].length;
    } else {
      realign = 0;
      if (text.slice(start, stop)) out.push(text.slice(start, stop));
    }
  }
  return out;
}
