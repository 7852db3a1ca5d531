// Builds a search index (`naaf index`): the split's images encoded by the model on the GPU in
// streamed batches (never the whole gallery in memory), each batch one atomic LanceDB commit,
// then the ANN index, then the manifest marked complete. Interrupted, it resumes from the rows
// already committed; a directory that is not an index, or an index of another model or split,
// is refused, never overwritten.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { findVocabulary } from '../data/precomp.js';
import type { NaafEngine } from '../engine.js';
import { NpyReader } from '../io/npy.js';
import { INDEX_FORMAT, INDEX_VERSION, MANIFEST, checkpointIdentity, readManifest, writeManifest, type CoarseKind, type IndexManifest } from './manifest.js';
import { DEFAULT_TABLE, TABLE, connectTable, imageBatch, imageSchema, isUri, loadLance, tableIdOf, tableLocation, type LanceTable } from './lance.js';

export interface BuildIndexOptions {
  /** Folder of the precomp split ({split}_ims.npy) and its vocabulary. */
  data: string;
  split: string;
  checkpoint: string;
  out: string;
  /** Images per GPU batch and per commit (default 2048). */
  batchSize?: number;
  /** Default 'maxsim' (measured: bench/RESULTS.md, search). */
  coarse?: CoarseKind;
  /** 'auto' (default): IVF_PQ from 4096 images, else none (the coarse search is then exact and still fast). */
  ann?: 'auto' | 'ivf_pq' | 'flat';
  vocab?: string;
  /**
   * Where the LanceDB database with the images table goes (default: the folder `lance` in
   * `out`): another local folder, or an object-storage URI (s3://bucket/path, gs://, az://) that
   * many machines can search. The manifest, vocabulary and checkpoint identity stay in `out`.
   */
  table?: string;
  /** LanceDB storage options for `table` (credentials, endpoint, region); else LanceDB reads its environment variables. */
  storageOptions?: Record<string, string>;
  onProgress?: (done: number, total: number) => void;
  /** Polled after each committed batch: true stops (the index stays resumable). */
  shouldStop?: () => boolean;
  log?: (line: string) => void;
}

export interface BuildIndexResult {
  manifest: IndexManifest;
  /** Rows that were already committed when this call started (0 for a fresh build). */
  resumedFrom: number;
  stopped: boolean;
  seconds: number;
}

const ANN_MIN_ROWS = 4096;

/** Normalised mean of each image's regions: [n, E] from [n, R, E]. */
export function meanVectors(regions: Float32Array, n: number, R: number, E: number): Float32Array {
  const out = new Float32Array(n * E);
  for (let i = 0; i < n; i++) {
    const o = out.subarray(i * E, (i + 1) * E);
    for (let r = 0; r < R; r++) {
      const base = (i * R + r) * E;
      for (let e = 0; e < E; e++) o[e]! += regions[base + e]!;
    }
    let norm = 0;
    for (let e = 0; e < E; e++) norm += o[e]! * o[e]!;
    norm = Math.sqrt(norm) || 1;
    for (let e = 0; e < E; e++) o[e]! /= norm;
  }
  return out;
}

/** PQ sub-vectors: the largest divisor of E that leaves at least 4 dimensions each. */
function subVectorsOf(E: number): number {
  for (let s = Math.floor(E / 4); s >= 1; s--) if (E % s === 0) return s;
  return 1;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export async function buildIndex(engine: NaafEngine, o: BuildIndexOptions): Promise<BuildIndexResult> {
  const started = performance.now();
  const what = 'naaf index';
  const batchSize = o.batchSize ?? 2048;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${what}: batchSize must be a positive integer, got ${o.batchSize}`);
  const coarse = o.coarse ?? 'maxsim';
  if (coarse !== 'mean' && coarse !== 'maxsim') throw new Error(`${what}: coarse must be 'mean' or 'maxsim', got ${JSON.stringify(o.coarse)}`);
  const annChoice = o.ann ?? 'auto';
  if (!['auto', 'ivf_pq', 'flat'].includes(annChoice)) throw new Error(`${what}: ann must be 'auto', 'ivf_pq' or 'flat', got ${JSON.stringify(o.ann)}`);
  const out = resolve(o.out);
  if (o.table !== undefined && (typeof o.table !== 'string' || o.table === '')) throw new Error(`${what}: table must be a folder or a URI, got ${JSON.stringify(o.table)}`);
  const tableSetting = o.table === undefined ? DEFAULT_TABLE : isUri(o.table) ? o.table : resolve(o.table);
  const lance = await loadLance();
  const reader = await NpyReader.open(join(o.data, `${o.split}_ims.npy`)).catch((error: Error) => {
    throw new Error(`${what}: cannot read the ${o.split} split's images in ${o.data}: ${error.message}`);
  });
  let model: Awaited<ReturnType<NaafEngine['loadModel']>> | null = null;
  let table: LanceTable | null = null;
  let db: Awaited<ReturnType<typeof lance.connect>> | null = null;
  try {
    model = await engine.loadModel(o.checkpoint);
    if (reader.shape.length !== 3) throw new Error(`${what}: ${o.split}_ims.npy must be [images, regions, features], got [${reader.shape.join(', ')}]`);
    const [N, R, imgDim] = reader.shape as [number, number, number];
    if (N === 0) throw new Error(`${what}: the ${o.split} split has no images`);
    if (imgDim !== model.config.imgDim) throw new Error(`${what}: the images have ${imgDim} features but the model expects imgDim ${model.config.imgDim}`);
    const E = model.config.embedSize;
    const identity = await checkpointIdentity(o.checkpoint, model.config);
    const data = { dir: resolve(o.data), split: o.split, images: N, regions: R, imgDim };

    let manifest = await readManifest(out);
    let createdOut = false;
    if (manifest) {
      if (manifest.checkpoint.sha256 !== identity.sha256) {
        throw new Error(`${what}: ${out} is an index of another checkpoint (sha256 ${manifest.checkpoint.sha256.slice(0, 12)}…, built from ${manifest.checkpoint.path}); ${o.checkpoint} is ${identity.sha256.slice(0, 12)}…. Choose another --out`);
      }
      if (!same(manifest.data, data) || manifest.coarse !== coarse) {
        throw new Error(`${what}: ${out} was started for ${manifest.data.dir} split ${manifest.data.split} (${manifest.data.images} images, coarse ${manifest.coarse}), not ${data.dir} split ${o.split} (${N} images, coarse ${coarse}). Choose another --out`);
      }
      if ((manifest.table ?? DEFAULT_TABLE) !== tableSetting) {
        throw new Error(`${what}: ${out} was started with its table at ${manifest.table ?? DEFAULT_TABLE}, not ${tableSetting}; pass the same --table to resume it, or choose another --out`);
      }
      if (manifest.complete) {
        o.log?.(`${out} is already complete (${manifest.rows} images)`);
        return { manifest, resumedFrom: manifest.rows, stopped: false, seconds: (performance.now() - started) / 1000 };
      }
    } else {
      const entries = await readdir(out).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [] as string[];
        throw error;
      });
      if (entries.length > 0) throw new Error(`${what}: ${out} exists and is not a search index (no ${MANIFEST}); choose an empty or new --out`);
      if (tableSetting !== DEFAULT_TABLE) {
        // A table already there belongs to another index (or to someone else): never append to it.
        const existing = await connectTable(what, lance, tableLocation(out, tableSetting), o.storageOptions);
        const names = await existing.tableNames().finally(() => existing.close());
        if (names.includes(TABLE)) throw new Error(`${what}: ${tableSetting} already holds a LanceDB table '${TABLE}' (another index's?); choose another --table`);
      }
      await mkdir(out, { recursive: true });
      manifest = {
        format: INDEX_FORMAT, version: INDEX_VERSION, complete: false, checkpoint: identity, data, embedSize: E, coarse,
        ann: { kind: 'flat' }, ...(tableSetting === DEFAULT_TABLE ? {} : { table: tableSetting }), tableId: randomUUID(),
        rows: 0, vocab: 'vocab.json', startedAt: new Date().toISOString(),
      };
      createdOut = true;
      await writeManifest(out, manifest); // first: from here on the folder is ours, and resumable
    }
    // (Again) on every incomplete build: a crash may have come before it.
    const vocab = o.vocab ?? (await findVocabulary(o.data, model.config.textEncoder)).path;
    await copyFile(vocab, join(out, manifest.vocab));

    const location = tableLocation(out, manifest.table);
    const gone = `${what}: the table of ${out} at ${location} is gone (moved or deleted); build into a new --out`;
    if (manifest.tableCreated && !isUri(location) && !existsSync(location)) throw new Error(gone); // before connecting, which would create the folder
    db = await connectTable(what, lance, location, o.storageOptions);
    const schema = imageSchema(lance, E, manifest.tableId);
    if ((await db.tableNames()).includes(TABLE)) {
      table = await db.openTable(TABLE);
      const id = await tableIdOf(table);
      if (manifest.tableId && id !== manifest.tableId) {
        throw new Error(`${what}: the table at ${location} belongs to another index (id ${id ?? 'none'}, ${out} is ${manifest.tableId}); it is left as it is. Choose another --table and --out`);
      }
    } else {
      if (manifest.tableCreated) throw new Error(gone);
      try {
        table = await db.createEmptyTable(TABLE, schema, { mode: 'create' });
      } catch (error) {
        // Another build created it between the check above and here: refuse, leaving nothing of ours.
        if (createdOut) await rm(out, { recursive: true, force: true });
        throw new Error(`${what}: cannot create the table at ${location}: ${(error as Error).message.split('\n')[0]}; choose another --table`);
      }
      manifest = { ...manifest, tableCreated: true };
      await writeManifest(out, manifest);
    }
    const resumedFrom = await table.countRows();
    if (resumedFrom > N) throw new Error(`${what}: ${out} holds ${resumedFrom} rows, more than the split's ${N} images`);
    if (resumedFrom > 0) o.log?.(`resuming ${out} at image ${resumedFrom} of ${N}`);
    o.onProgress?.(resumedFrom, N);
    for (let start = resumedFrom; start < N; start += batchSize) {
      const n = Math.min(batchSize, N - start);
      const features = await reader.readRows(start, n);
      const embedded = await model.encodeImages({ data: features, shape: [n, R, imgDim] });
      const ids = Int32Array.from({ length: n }, (_, i) => start + i);
      // One add = one Lance commit: a crash leaves the table at the previous batch.
      await table.add(imageBatch(lance, schema, ids, meanVectors(embedded.data, n, R, E), embedded.data, R, E));
      o.onProgress?.(start + n, N);
      if (start + n < N && o.shouldStop?.()) {
        return { manifest, resumedFrom, stopped: true, seconds: (performance.now() - started) / 1000 };
      }
    }

    const useAnn = annChoice === 'ivf_pq' || (annChoice === 'auto' && N >= ANN_MIN_ROWS);
    let ann: IndexManifest['ann'] = { kind: 'flat' };
    if (useAnn) {
      const partitions = Math.max(1, Math.min(1024, Math.round(Math.sqrt(coarse === 'maxsim' ? N * R : N) / 2)));
      const subVectors = subVectorsOf(E);
      o.log?.(`building the IVF_PQ index on ${coarse === 'mean' ? 'coarse' : 'regions'} (${partitions} partitions, ${subVectors} sub-vectors)`);
      await table.createIndex(coarse === 'mean' ? 'coarse' : 'regions', {
        config: lance.Index.ivfPq({ numPartitions: partitions, numSubVectors: subVectors, distanceType: 'cosine' }), name: 'coarse_ann', replace: true,
      });
      ann = { kind: 'ivf_pq', partitions, subVectors };
    }
    const seconds = (performance.now() - started) / 1000;
    manifest = { ...manifest, complete: true, rows: N, ann, completedAt: new Date().toISOString(), buildSeconds: seconds };
    await writeManifest(out, manifest);
    return { manifest, resumedFrom, stopped: false, seconds };
  } finally {
    table?.close();
    db?.close();
    model?.destroy();
    await reader.close();
  }
}
