// Searching an index (`naaf search`, `SearchIndex.query`): captions encoded by the model, a
// coarse shortlist of K' images per caption from LanceDB, then the exact NAAF (or SCAN t2i)
// score of every (caption, candidate) pair in one GPU pass (engine.scorePairs, bit for bit the
// dense kernel's score), ranked. The index must come from the same checkpoint (sha256), and
// what its manifest says is checked (manifestSchema.ts) before LanceDB sees any of it.
import { methodNames, methodSpec } from '../methods/index.js';
import type { ScoreMethod } from '../methods/types.js';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { encodeCaptionIds } from '../data/precomp.js';
import { Vocabulary } from '../data/vocab.js';
import { tokenize } from '../data/tokenize.js';
import type { NaafEngine } from '../engine.js';
import type { NaafModel } from '../model/model.js';
import type { WordTerm } from '../report/types.js';
import { captionWordTerms } from '../report/wordTerms.js';
import { similarityOptionsOf } from '../similarity/modelOptions.js';
import type { SimilarityOptions } from '../types.js';
import { checkpointIdentity, coarseDim, readManifest, type CoarseKind, type IndexManifest } from './manifest.js';
import { coarseQueryVectors, readIndexStudent } from './indexStudent.js';
import { embedTower, vectorTopK, type Student } from './student.js';
import { readConfined } from './confined.js';
import { TABLE, checkTableWidth, connectTable, fetchCoarseRange, fetchRegionRange, fetchRegions, isUri, loadLance, rowsWithRegions, tableIdOf, tableLocation, type LanceConnection, type LanceTable } from './lance.js';
import { lanceCall } from './lanceErrors.js';
import { lockHolder } from './lock.js';
import type { Gallery } from '../backend/types.js';

export interface QueryOptions {
  /** Results per caption (default 10). */
  k?: number;
  /** K': coarse candidates per caption, re-scored exactly (default defaultCandidates(the index's coarse kind); past the gallery size: all of it). Must be >= k. */
  candidates?: number;
  /** NAAF's per-word terms for each hit (NAAF models only). */
  terms?: boolean;
  /** IVF partitions probed by the coarse search (default 20). */
  nprobes?: number;
  /** LanceDB's refine factor: PQ candidates re-scored with the stored vectors, per K' (default 4). */
  refine?: number;
  /** Also return each caption's coarse shortlist, in coarse order (to evaluate the coarse stage). */
  withCandidates?: boolean;
  /** Distinct images per GPU pass, and the most whose regions are held at once (default: what one scorePairs call takes in WebGPU's default 128 MiB binding, at most 65535). */
  maxImagesPerPass?: number;
}

export interface OpenOptions {
  /** The exact stage's score (default 'naaf'). */
  method?: SearchMethod;
  /** LanceDB's, for a table on object storage (else it reads its environment variables). */
  storageOptions?: Record<string, string>;
  /**
   * Keep every image's regions resident on the GPU (an f32 gallery, read once from the table):
   * the coarse search then returns ids only and the exact stage scores them where they lie. For a
   * long-lived searcher whose gallery fits the GPU; refused past `maxGpuBytes`. A student index
   * also keeps its coarse vectors in memory (4 x dim bytes an image): its coarse pass is then an
   * exact inner product over all of them on the CPU (vectorTopK), not a LanceDB search.
   */
  resident?: boolean;
  /** resident: the most bytes the gallery may take (default: no limit but the device's). */
  maxGpuBytes?: number;
  /** resident student index: false keeps LanceDB's search as the coarse pass (default true: the in-memory flat pass). */
  residentCoarse?: boolean;
}

export interface SearchHit {
  id: number;
  score: number;
  /** 1-based rank in the coarse shortlist. */
  coarseRank: number;
  terms?: WordTerm[];
}

export interface CaptionResult {
  caption: string;
  tokens: string[];
  /** Words outside the vocabulary: the model reads them as <unk> (reported, not an error). */
  unknown: string[];
  hits: SearchHit[];
  /** The coarse shortlist's ids (with options.withCandidates). */
  candidates?: number[];
}

/** Milliseconds per stage: encoding the captions (a student index: their student vectors too), the coarse search (LanceDB's, which also reads the candidates' regions, or a resident student's flat pass), gathering those regions into GPU passes, exact scoring. */
export interface QueryTimings { encodeMs: number; coarseMs: number; gatherMs: number; exactMs: number }

// Chosen on the dev queries of the 100k scenes gallery (bench/RESULTS.md, search.flat at 100k):
// the smallest K' whose top-10 equalled exhaustive NAAF's for 95% of them with overlap@10 >= 0.99.
// MaxSim (and the mean, measured no better): 1000. A distilled student: 1500 (dev 98%; 1000 kept 93%).
export const DEFAULT_CANDIDATES = 1000;
export const DEFAULT_STUDENT_CANDIDATES = 1500;

/** The default K' of an index's coarse kind. */
export function defaultCandidates(coarse: CoarseKind): number {
  return coarse === 'student' ? DEFAULT_STUDENT_CANDIDATES : DEFAULT_CANDIDATES;
}

/** The methods a search re-ranks with (the registry's `search`: NAAF and SCAN t2i). */
/** A registered method; those whose entry says `search` are accepted (checked at run time). */
export type SearchMethod = ScoreMethod;

/** A registered method whose exact scores re-rank a search (the registry's `search`). */
function searchMethod(name: unknown): SearchMethod {
  const searchable = methodNames().filter((m) => methodSpec(m).search);
  if (!searchable.includes(name as ScoreMethod)) {
    throw new Error(`search: method must be ${searchable.map((m) => `'${m}'`).join(' or ')}, got ${JSON.stringify(name)}`);
  }
  return name as SearchMethod;
}

export class SearchIndex {
  private constructor(
    private readonly engine: NaafEngine,
    readonly dir: string,
    readonly manifest: IndexManifest,
    private readonly model: NaafModel,
    private readonly vocab: Vocabulary,
    private readonly db: LanceConnection,
    private readonly table: LanceTable,
    /** "the table at LOCATION", for errors. */
    private readonly where: string,
    readonly method: SearchMethod,
    private readonly gallery: Gallery | null,
    /** A student index's student (coarse 'student'). */
    private readonly student: Student | null,
    /** Resident student index: every image's coarse vector, [rows, dim] in id order. */
    private readonly studentVectors: Float32Array | null,
  ) {}

  /**
   * Opens a complete index with the checkpoint it was built from; method: the exact stage's score
   * (default 'naaf'); storageOptions: LanceDB's, for a table on object storage (else it reads
   * its environment variables).
   */
  static async open(engine: NaafEngine, dir: string, checkpoint: string, options: OpenOptions = {}): Promise<SearchIndex> {
    const root = resolve(dir);
    const manifest = await readManifest(root);
    if (!manifest) throw new Error(`search: ${root} is not a search index (no naaf-index.json); build one with \`naaf index\``);
    if (!manifest.complete) {
      // A complete index is never written again (a build of it returns at once), so only an
      // incomplete one can have a build running: said so, instead of "interrupted".
      const holder = await lockHolder(root);
      if (holder) throw new Error(`search: the index ${root} is incomplete: it is being built right now (pid ${holder.pid} on host ${holder.host.slice(0, 80)}, started ${holder.startedAt.slice(0, 40)}); search it once that build has finished`);
      throw new Error(`search: the index ${root} is incomplete (its build was interrupted); rerun the same \`naaf index\` command to resume it`);
    }
    const model = await engine.loadModel(checkpoint);
    let db: LanceConnection | null = null;
    let table: LanceTable | null = null;
    let gallery: Gallery | null = null;
    try {
      const identity = await checkpointIdentity(checkpoint, model.config);
      if (identity.sha256 !== manifest.checkpoint.sha256) {
        throw new Error(`search: ${checkpoint} (sha256 ${identity.sha256.slice(0, 12)}…) is not the checkpoint the index ${root} was built with `
          + `(${manifest.checkpoint.path}, sha256 ${manifest.checkpoint.sha256.slice(0, 12)}…): its embeddings would not match; search with that checkpoint or rebuild the index`);
      }
      const method = searchMethod(options.method ?? 'naaf');
      if (manifest.embedSize !== model.config.embedSize) {
        throw new Error(`search: the index ${root} says embedSize ${manifest.embedSize}, but the checkpoint's model has embedSize ${model.config.embedSize}; its manifest was edited: rebuild the index`);
      }
      const vocab = await readVocabulary(root, manifest.vocab);
      const lance = await loadLance();
      const location = tableLocation(root, manifest.table);
      const where = `the table at ${location}`;
      const gone = `search: the index ${root} has no table '${TABLE}' at ${location}; was it moved or deleted?`;
      if (!isUri(location) && !existsSync(location)) throw new Error(gone); // before connecting, which would create the folder
      db = await connectTable('search', lance, location, options.storageOptions);
      const connection = db;
      if (!(await lanceCall(`search: cannot list the tables at ${location}`, () => connection.tableNames())).includes(TABLE)) throw new Error(gone);
      table = await lanceCall(`search: cannot open ${where} of the index ${root}`, () => connection.openTable(TABLE));
      const images = table;
      const id = await tableIdOf(table, `search: ${where}`);
      if (manifest.tableId && id !== manifest.tableId) throw new Error(`search: the table at ${location} belongs to another index (id ${id ?? 'none'}, ${root} is ${manifest.tableId})`);
      await checkTableWidth(table, `search: ${where} of the index ${root}`, manifest.embedSize, 'its manifest', coarseDim(manifest));
      const student = manifest.coarse === 'student' ? await readIndexStudent(root, manifest) : null;
      const rows = await lanceCall(`search: cannot count the rows of ${where}`, () => images.countRows());
      if (rows !== manifest.rows) throw new Error(`search: the index ${root} holds ${rows} images, its manifest says ${manifest.rows}; rebuild it`);
      if (options.resident) gallery = await residentGallery(engine, table, manifest, where, options.maxGpuBytes);
      const studentVectors = student && options.resident && options.residentCoarse !== false ? await residentCoarse(table, manifest, where) : null;
      return new SearchIndex(engine, root, manifest, model, vocab, db, table, where, method, gallery, student, studentVectors);
    } catch (error) {
      gallery?.destroy();
      table?.close();
      db?.close();
      model.destroy();
      throw error;
    }
  }

  /** Whether the regions are resident on the GPU (OpenOptions.resident). */
  get resident(): boolean {
    return this.gallery !== null;
  }

  get size(): number {
    return this.manifest.rows;
  }

  private similarityOptions(): SimilarityOptions {
    return similarityOptionsOf(this.method, this.model);
  }

  /** Each caption's k best images: coarse shortlist of K' from LanceDB, exact scores on the GPU. */
  async query(captions: readonly string[], options: QueryOptions = {}): Promise<{ results: CaptionResult[]; timings: QueryTimings }> {
    const what = 'search.query';
    if (!Array.isArray(captions) || captions.length === 0) throw new Error(`${what}: captions must be a non-empty array of strings, got ${Array.isArray(captions) ? 'an empty array' : typeof captions}`);
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1) throw new Error(`${what}: k must be a positive integer, got ${options.k}`);
    const wanted = options.candidates ?? Math.max(defaultCandidates(this.manifest.coarse), k);
    if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`${what}: candidates must be a positive integer, got ${options.candidates}`);
    if (wanted < k) throw new Error(`${what}: candidates (K' = ${wanted}) must be at least k (${k}): the exact stage only re-ranks the shortlist`);
    const nprobes = options.nprobes ?? 20;
    if (!Number.isInteger(nprobes) || nprobes < 1) throw new Error(`${what}: nprobes must be a positive integer, got ${options.nprobes}`);
    const refine = options.refine ?? 4;
    if (!Number.isInteger(refine) || refine < 1) throw new Error(`${what}: refine must be a positive integer, got ${options.refine}`);
    if (options.terms && !methodSpec(this.method).wordTerms) throw new Error(`${what}: terms are NAAF's per-word terms; this index is searched with ${this.method}`);
    const N = this.manifest.rows;
    const candidates = Math.min(wanted, N); // documented: K' larger than the gallery means all of it
    const { regions: R } = this.manifest.data;
    const E = this.manifest.embedSize;

    // Encode.
    let t = performance.now();
    const parsed = captions.map((caption, i) => {
      if (typeof caption !== 'string') throw new Error(`${what}: captions[${i}] must be a string, got ${typeof caption}`);
      const tokens = tokenize(caption);
      if (tokens.length === 0) throw new Error(`${what}: captions[${i}] has no words (${JSON.stringify(caption)})`);
      return { caption, tokens, unknown: this.vocab.unknown(tokens) };
    });
    const M = parsed.length;
    const { ids, lengths, maxWords: L } = encodeCaptionIds(captions as string[], this.vocab, this.model.config.vocabSize);
    const words = await this.model.encodeCaptions({ ids, shape: [M, L], lengths });
    const S = coarseDim(this.manifest); // a student query's width
    const studentQueries = this.student ? coarseQueryVectors(this.manifest.student!, embedTower(this.student.text, { data: words.data, shape: [M, L, E], lengths })) : null;
    const encodeMs = performance.now() - t;

    // Regions are held for at most `budget` images at once: one GPU pass's worth (65535 images,
    // one 128 MiB binding: WebGPU's default limit). Captions are taken in chunks whose shortlists
    // fit it; each chunk's coarse rows carry their regions. A single shortlist larger than that
    // comes as ids only, its regions read per pass.
    const budget = options.maxImagesPerPass ?? Math.max(1, Math.min(65535, Math.floor(2 ** 27 / (R * E * 4))));
    if (!Number.isInteger(budget) || budget < 1) throw new Error(`${what}: maxImagesPerPass must be a positive integer, got ${options.maxImagesPerPass}`);
    const timings: QueryTimings = { encodeMs, coarseMs: 0, gatherMs: 0, exactMs: 0 };
    const captionInput = { data: words.data, shape: [M, L, E] as [number, number, number], lengths: words.lengths };
    const results: CaptionResult[] = [];
    const withRegions = candidates <= budget && !this.gallery;
    for (let m = 0; m < M;) {
      t = performance.now();
      const chunk: { m: number; list: number[] }[] = [];
      const regionsOf = new Map<number, Float32Array>();
      let rows = 0;
      while (m < M && (chunk.length === 0 || rows + candidates <= budget || this.gallery)) {
        let list: number[];
        const studentQuery = studentQueries?.subarray(m * S, (m + 1) * S);
        if (studentQuery && this.studentVectors) {
          // Resident student: one inner product per image, exact, in memory.
          list = Array.from(vectorTopK(this.studentVectors, S, studentQuery, candidates).indices);
        } else {
          const vectors = studentQuery ? [studentQuery]
            : Array.from({ length: lengths[m]! }, (_, w) => words.data.slice((m * L + w) * E, (m * L + w + 1) * E));
          const search = this.coarseSearch(vectors, candidates, withRegions ? ['id', 'regions', '_distance'] : ['id', '_distance'], nprobes, refine);
          const doing = `search: the coarse search of ${this.where} (index ${this.dir}) failed`;
          list = withRegions ? rowsWithRegions(await lanceCall(doing, () => search.toArrow()), R, E, regionsOf)
            : (await lanceCall(doing, () => search.toArray())).map((row) => Number(row.id));
        }
        chunk.push({ m, list });
        rows += list.length;
        m++;
      }
      timings.coarseMs += performance.now() - t;

      // The chunk's (caption, candidate) pairs, scored in passes of at most `budget` distinct images.
      const scores = chunk.map(({ list }) => new Float32Array(list.length));
      const pairs = chunk.flatMap(({ list }, c) => list.map((id, rank) => ({ c, rank, id })));
      if (this.gallery) {
        // Resident regions: every pair of the chunk in one call, scored where the images lie.
        t = performance.now();
        const all = await this.gallery.scorePairs(captionInput, { images: pairs.map((p) => p.id), captions: pairs.map((p) => chunk[p.c]!.m) }, this.similarityOptions());
        pairs.forEach((p, i) => { scores[p.c]![p.rank] = all[i]!; });
        timings.exactMs += performance.now() - t;
      }
      for (let start = this.gallery ? pairs.length : 0; start < pairs.length;) {
        const slot = new Map<number, number>();
        let end = start;
        while (end < pairs.length && (slot.has(pairs[end]!.id) || slot.size < budget)) {
          if (!slot.has(pairs[end]!.id)) slot.set(pairs[end]!.id, slot.size);
          end++;
        }
        t = performance.now();
        const ids = [...slot.keys()];
        const regionData = await this.regionsOfIds(ids, regionsOf);
        timings.gatherMs += performance.now() - t;
        t = performance.now();
        const group = pairs.slice(start, end);
        const images = { data: regionData, shape: [ids.length, R, E] as [number, number, number] };
        const groupScores = await this.engine.scorePairs(images, captionInput,
          { images: group.map((p) => slot.get(p.id)!), captions: group.map((p) => chunk[p.c]!.m) }, this.similarityOptions());
        group.forEach((p, i) => { scores[p.c]![p.rank] = groupScores[i]!; });
        timings.exactMs += performance.now() - t;
        start = end;
      }

      t = performance.now();
      for (const [c, { m: caption, list }] of chunk.entries()) {
        const scored = list.map((id, rank) => ({ id, score: scores[c]![rank]!, coarseRank: rank + 1 }));
        scored.sort((a, b) => b.score - a.score || a.id - b.id);
        const hits: SearchHit[] = scored.slice(0, k);
        if (options.terms) {
          // One call for the caption's hits: terms [hits, 1, L].
          const images = { data: await this.regionsOfIds(hits.map((h) => h.id), regionsOf), shape: [hits.length, R, E] as [number, number, number] };
          const words1 = { data: words.data.subarray(caption * L * E, (caption + 1) * L * E), shape: [1, L, E] as [number, number, number], lengths: [lengths[caption]!] };
          const terms = await this.engine.naafWordTerms(images, words1, this.similarityOptions() as Extract<SimilarityOptions, { method: 'naaf' }>);
          hits.forEach((hit, i) => {
            const of = (a: Float32Array) => a.subarray(i * L, (i + 1) * L);
            hit.terms = captionWordTerms(parsed[caption]!.tokens, { neg: of(terms.neg), posF: of(terms.posF), posR: of(terms.posR), sMax: of(terms.sMax) });
          });
        }
        const p = parsed[caption]!;
        results.push({ caption: p.caption, tokens: p.tokens, unknown: p.unknown, hits, ...(options.withCandidates ? { candidates: list } : {}) });
      }
      timings.exactMs += performance.now() - t;
    }
    return { results, timings };
  }

  /** [ids.length, R, E]: the regions the coarse rows brought, the others read from the table. */
  private async regionsOfIds(ids: readonly number[], known: Map<number, Float32Array>): Promise<Float32Array> {
    const size = this.manifest.data.regions * this.manifest.embedSize;
    const read = await fetchRegions(this.table, ids.filter((id) => !known.has(id)), this.manifest.data.regions, this.manifest.embedSize, this.where);
    const out = new Float32Array(ids.length * size);
    ids.forEach((id, i) => out.set(known.get(id) ?? read.get(id)!, i * size));
    return out;
  }

  /** One caption's coarse search: its words' vectors (MaxSim), their mean, or its student vector; the K' best rows. */
  private coarseSearch(vectors: Float32Array[], candidates: number, columns: string[], nprobes: number, refine: number) {
    let search;
    if (this.manifest.coarse === 'maxsim') {
      search = this.table.search(vectors).column('regions');
    } else if (this.manifest.coarse === 'student') {
      search = this.table.search(vectors[0]!).column('coarse');
    } else {
      const mean = new Float32Array(this.manifest.embedSize);
      for (const v of vectors) for (let e = 0; e < mean.length; e++) mean[e]! += v[e]!;
      search = this.table.search(mean).column('coarse');
    }
    // Cosine for every kind: a student's column holds unit vectors (indexStudent.ts).
    search = search.distanceType('cosine').limit(candidates).select(columns);
    return this.manifest.ann.kind === 'flat' ? search : search.nprobes(nprobes).refineFactor(refine);
  }

  close(): void {
    this.gallery?.destroy();
    this.table.close();
    this.db.close();
    this.model.destroy();
  }
}

/** Largest vocabulary read (GloVe-sized ones are a few MiB). */
const MAX_VOCAB_BYTES = 64 << 20;

/** The index's vocabulary, read only from inside its folder; errors name the file, never quote it. */
async function readVocabulary(root: string, relative: string): Promise<Vocabulary> {
  const text = await readConfined(root, relative, `search: the index ${root}`, 'vocab', MAX_VOCAB_BYTES);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`search: the index ${root}'s vocabulary ${relative.slice(0, 80)} is not valid JSON; rebuild the index`);
  }
  try {
    return Vocabulary.fromJSON(data as object);
  } catch (error) {
    throw new Error(`search: the index ${root}'s vocabulary ${relative.slice(0, 80)} is not a vocabulary (${(error as Error).message.slice(0, 200)})`);
  }
}

/** Every image's regions, read from the table in id order in batches, into an f32 gallery. */
async function residentGallery(engine: NaafEngine, table: LanceTable, manifest: IndexManifest, where: string, maxGpuBytes?: number): Promise<Gallery> {
  const { regions: R } = manifest.data;
  const E = manifest.embedSize;
  const batch = Math.max(1, Math.floor(2 ** 26 / (R * E * 4))); // 64 MiB read at a time
  let gallery: Gallery | null = null;
  try {
    for (let start = 0; start < manifest.rows; start += batch) {
      const count = Math.min(batch, manifest.rows - start);
      const images = { data: await fetchRegionRange(table, start, count, R, E, where), shape: [count, R, E] as [number, number, number] };
      if (gallery) await gallery.add(images);
      else gallery = await engine.createGallery(images, { maxGpuBytes });
    }
    return gallery!;
  } catch (error) {
    gallery?.destroy();
    throw error;
  }
}

/** A student index's coarse vectors, read from the table in id order in batches: [rows, dim]. */
async function residentCoarse(table: LanceTable, manifest: IndexManifest, where: string): Promise<Float32Array> {
  const dim = coarseDim(manifest);
  const out = new Float32Array(manifest.rows * dim);
  const batch = Math.max(1, Math.floor(2 ** 26 / (dim * 4)));
  for (let start = 0; start < manifest.rows; start += batch) {
    const count = Math.min(batch, manifest.rows - start);
    out.set(await fetchCoarseRange(table, start, count, dim, where), start * dim);
  }
  return out;
}
