// The live search page (report/live/index.html): loads the trained NAAF and SCAN t2i models and
// the test split from its own folder, encodes the test scenes once per model, then ranks them
// for whatever caption is typed: on the browser's WebGPU with a hardware adapter, else on its
// CPU through the WASM SIMD kernels (threads where the page is cross-origin isolated, as
// `naaf serve` makes it: COOP same-origin, COEP require-corp). The engine comes from the browser
// bundle beside it (build.mjs maps ../index.js to ./naaf-webgpu.js); the rest is this file.
// Tests drive it through body[data-state] ('loading' | 'ready' | 'searching' | 'done' | 'error'
// | 'no-engine'), body[data-query] (the last finished query) and the result lists' data-image.
import { NaafEngine, NpyReader, Vocabulary, tokenize } from '../index.js';
import { escapeHtml as esc } from '../report/escape.js';
import { wordChip } from '../report/html.js';
import type { Foil } from '../scenes/foils.js';
import { drawScene } from '../scenes/svg.js';
import { LIVE_FORMAT, LIVE_VERSION, type LiveManifest, type LiveScenes } from './manifest.js';
import { liveModel, parseQuery, queryWordTerms, rankScenes, type LiveModel, type MethodRanking, type ParsedQuery } from './search.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string, error = false) => {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
};
function setState(state: string, query?: string): void {
  if (query !== undefined) document.body.dataset.query = query;
  document.body.dataset.state = state;
}

function showNoEngine(reason: string): void {
  const box = $('noengine');
  box.innerHTML = `<h2>This page needs WebGPU or WebAssembly SIMD</h2>
<p>It computes NAAF and SCAN on your GPU through WebGPU, or on your CPU through WebAssembly SIMD, and neither is available: ${esc(reason)}.</p>
<ul>
<li>Use a recent Chrome, Edge, Firefox or Safari (WebAssembly SIMD since Chrome 91, Firefox 89, Safari 16.4; WebGPU since Chrome and Edge 113, Safari 26, Firefox 141 on Windows).</li>
<li>Open the page as <code>http://localhost:8080/live/</code> after <code>npx naaf serve report</code>: WebGPU exists only in secure contexts (https or localhost), and the CPU kernels use threads only on a cross-origin isolated page, which <code>naaf serve</code> makes it.</li>
</ul>
<p>The <a href="../">static report</a> works without either.</p>`;
  box.hidden = false;
  status('Neither WebGPU nor WebAssembly SIMD is available here.', true);
  setState('no-engine');
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`live page: ${url}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

const kB = (bytes: number) => `${(bytes / 1024).toFixed(0)} kB`;

interface QueryContext {
  /** A test caption's line, when the query is that caption or its foil. */
  captionIndex?: number;
  foil?: boolean;
}

async function main(): Promise<void> {
  let engine: NaafEngine;
  try {
    engine = await NaafEngine.create();
  } catch (error) {
    showNoEngine((error as Error).message);
    return;
  }
  const manifest = (await (await fetchOk('./live.json')).json()) as LiveManifest;
  if (manifest.format !== LIVE_FORMAT || manifest.version !== LIVE_VERSION) {
    throw new Error(`live page: live.json is ${manifest.format} version ${manifest.version}, expected ${LIVE_FORMAT} version ${LIVE_VERSION}; rerun npm start`);
  }
  // "webgpu: <adapter>" or "wasm: N threads, SIMD128".
  const device = engine.describe();
  status(`${device}. Loading the test split…`);
  const [vocab, captions, scenes, reader] = await Promise.all([
    fetchOk(`./${manifest.vocab}`).then((r) => r.text()).then((text) => Vocabulary.fromJSON(text)),
    // As openPrecompSplit reads it: lines without \r, trailing blank lines dropped (line i is caption i).
    fetchOk(`./${manifest.captions}`).then((r) => r.text()).then((text) => {
      const lines = text.split('\n').map((line) => line.replace(/\r$/, ''));
      while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
      return lines;
    }),
    fetchOk(`./${manifest.scenes}`).then((r) => r.json() as Promise<LiveScenes>),
    NpyReader.open(`./${manifest.images.file}`),
  ]);
  const [N, R, D] = reader.shape as [number, number, number];
  const features = { data: await reader.readRows(0, N), shape: [N, R, D] as [number, number, number] };
  await reader.close();
  const models: LiveModel[] = [];
  for (const m of manifest.models) {
    const model = await engine.loadModel(`./${m.file}`, {
      onProgress: ({ loaded, total }) => status(`${device}. Loading ${m.label}: ${kB(loaded)}${total ? ` of ${kB(total)}` : ''}…`),
    });
    status(`${device}. Encoding ${N} test scenes with ${m.label}…`);
    models.push(await liveModel(engine, m.method, m.label, model, await model.encodeImages(features)));
  }
  const naaf = models.find((m) => m.method === 'naaf');
  const foilOf = new Map<number, Foil>(scenes.foils.map((f) => [f.captionIndex, f]));
  status(`${device}. ${N} test scenes, ${captions.length} test captions, ${models.map((m) => m.label).join(' and ')} loaded.`);

  const examples = $<HTMLSelectElement>('examples');
  captions.forEach((caption, i) => examples.add(new Option(`${i}: ${caption}`, String(i))));

  let context: QueryContext = {};
  let current: { text: string; query: ParsedQuery; rankings: MethodRanking[]; selected: number } | null = null;
  // One query at a time; while one runs, only the latest request waits.
  let running = false;
  let pending: { text: string; context: QueryContext; select?: number } | null = null;

  const trueImage = () => (context.captionIndex === undefined ? -1 : Math.floor(context.captionIndex / 5));

  function renderFoilButton(): void {
    const button = $<HTMLButtonElement>('foil');
    const foil = context.captionIndex === undefined ? undefined : foilOf.get(context.captionIndex);
    button.hidden = !foil;
    if (!foil) return;
    button.textContent = context.foil ? 'Back to the caption' : `Its foil: “${foil.swapped[0]}” → “${foil.swapped[1]}”`;
  }

  async function renderWords(): Promise<void> {
    if (!current) return;
    const unknown = new Set(current.query.unknown);
    const foil = context.foil && context.captionIndex !== undefined ? foilOf.get(context.captionIndex) : undefined;
    let marked = false;
    const chip = (w: Parameters<typeof wordChip>[0]) => {
      const swapped = !marked && foil !== undefined && w.token === foil.swapped[1];
      if (swapped) marked = true;
      return wordChip(w, swapped, unknown.has(w.token));
    };
    if (naaf) {
      const ranking = current.rankings.find((r) => r.method === naaf.method)!;
      const terms = await queryWordTerms(engine, naaf, current.query, ranking, current.selected);
      $('words').innerHTML = `<span class="timing">against img ${current.selected}:</span> ${terms.map(chip).join(' ')}`;
    } else {
      $('words').innerHTML = current.query.tokens.map((token) => chip({ token, neg: NaN, posF: NaN, posR: NaN, sMax: NaN, mismatched: false })).join(' ');
    }
  }

  function renderColumns(): void {
    if (!current) return;
    const own = trueImage();
    const label = context.foil ? 'source image' : 'true image';
    $('columns').innerHTML = current.rankings.map((r) => `<article class="query" data-method="${esc(r.method)}">
<h3>${esc(r.label)} <span class="timing">${r.milliseconds.toFixed(0)} ms</span></h3>
<ol class="results" id="results-${esc(r.method)}">${r.top.map((s, k) => `<li class="scene${s.imageIndex === own ? ' correct' : ''}${s.imageIndex === current!.selected ? ' selected' : ''}" data-image="${s.imageIndex}" data-score="${s.score}" title="select: colour the words by NAAF's terms against this scene">`
      + `<div class="pic">${drawScene(scenes.test[s.imageIndex]!, { width: 200, height: 150, idPrefix: `${r.method}${k}` })}</div>`
      + `<div class="meta"><span class="rank">#${k + 1}</span> <span class="score">${s.score.toFixed(3)}</span> <span class="idx">img ${s.imageIndex}</span></div>`
      + (s.imageIndex === own ? `<div class="badge">✓ ${label}</div>` : '')
      + '</li>').join('')}</ol>
</article>`).join('\n');
  }

  /** A scene click: the same query, its words recoloured against another scene. */
  async function reselect(text: string, select: number): Promise<void> {
    if (!current || current.text !== text) return; // a newer query replaced it
    setState('searching');
    current.selected = select;
    renderColumns();
    await renderWords();
    setState('done', text);
  }

  async function search(text: string, next: QueryContext): Promise<void> {
    context = next;
    setState('searching');
    const query = parseQuery(text, vocab, tokenize);
    renderFoilButton();
    const notice = $('notice');
    notice.className = '';
    if (query.tokens.length === 0) {
      current = null;
      notice.textContent = 'Type a caption, or pick a test caption.';
      $('words').innerHTML = '';
      $('columns').innerHTML = '';
      setState('done', text);
      return;
    }
    notice.textContent = query.unknown.length > 0
      ? `Not in the vocabulary (the models read ${query.unknown.length === 1 ? 'it' : 'them'} as <unk>): ${query.unknown.map((w) => `“${w}”`).join(', ')}`
      : '';
    const rankings = await rankScenes(models, query, 5);
    const first = (rankings.find((r) => r.method === 'naaf') ?? rankings[0])!;
    current = { text, query, rankings, selected: first.top[0]!.imageIndex };
    renderColumns();
    await renderWords();
    status(`${device}. ${rankings.map((r) => `${r.label} ${r.milliseconds.toFixed(0)} ms`).join(' · ')} for ${N} scenes.`);
    setState('done', text);
  }

  /** Searches or (with `select`) reselects, one at a time; while one runs, only the latest request waits. */
  async function runQuery(text: string, next: QueryContext, select?: number): Promise<void> {
    if (running) {
      pending = { text, context: next, select };
      return;
    }
    running = true;
    try {
      if (select === undefined) await search(text, next);
      else await reselect(text, select);
    } catch (error) {
      $('notice').className = 'error';
      $('notice').textContent = `Error: ${(error as Error).message}`;
      setState('error', text);
    } finally {
      running = false;
      const waiting = pending;
      pending = null;
      if (waiting) void runQuery(waiting.text, waiting.context, waiting.select);
    }
  }

  const input = $<HTMLInputElement>('query');
  const typeAndSearch = (text: string, next: QueryContext) => {
    input.value = text;
    void runQuery(text, next);
  };
  const pickCaption = (i: number) => {
    examples.value = String(i);
    typeAndSearch(captions[i]!, { captionIndex: i });
  };
  $('search').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    const same = current && text === current.text; // resubmitting keeps a test caption's context
    void runQuery(text, same ? context : {});
  });
  examples.addEventListener('change', () => {
    if (examples.value !== '') pickCaption(Number(examples.value));
  });
  $('random').addEventListener('click', () => pickCaption(Math.floor(Math.random() * captions.length)));
  $('foil').addEventListener('click', () => {
    const foil = context.captionIndex === undefined ? undefined : foilOf.get(context.captionIndex);
    if (!foil) return;
    if (context.foil) typeAndSearch(foil.caption, { captionIndex: foil.captionIndex });
    else typeAndSearch(foil.foil, { captionIndex: foil.captionIndex, foil: true });
  });
  $('columns').addEventListener('click', (event) => {
    const item = (event.target as Element).closest<HTMLElement>('li[data-image]');
    if (!item || !current) return;
    void runQuery(current.text, context, Number(item.dataset.image));
  });
  for (const id of ['query', 'go', 'examples', 'random']) ($(id) as HTMLInputElement).disabled = false;
  $('app').hidden = false;
  input.focus();
  setState('ready');
}

main().catch((error: Error) => {
  status(`The live page could not start: ${error.message}`, true);
  setState('error');
});
