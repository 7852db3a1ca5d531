// Builds a search index (`naaf index`): the split's images encoded by the model on the GPU in
// streamed batches (never the whole gallery in memory), each batch one atomic LanceDB commit,
// then the ANN index, then the manifest marked complete. Interrupted, it resumes from the rows
// already committed; a directory that is not an index, or an index of another model or split,
// is refused, never overwritten. One build at a time per index folder (lock.ts).
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { checkSplitImages, findVocabulary } from '../data/precomp.js';
import type { NaafEngine } from '../engine.js';
import { NpyReader } from '../io/npy.js';
import { INDEX_FORMAT, INDEX_VERSION, MANIFEST, checkpointIdentity, coarseDim, readManifest, writeManifest, type CoarseKind, type IndexManifest } from './manifest.js';
import { STUDENT_FILE, coarseImageVectors, maxNormOf, readStudentFile } from './indexStudent.js';
import { embedTower, type Student } from './student.js';
import { confinedPath } from './confined.js';
import { DEFAULT_TABLE, TABLE, checkTableWidth, connectTable, imageBatch, imageSchema, isUri, loadLance, tableIdOf, tableLocation, type LanceConnection, type LanceTable } from './lance.js';
import { lanceCall, lanceCause } from './lanceErrors.js';
import { LOCK, acquireIndexLock, type IndexLock } from './lock.js';
import { tableLocationProblem } from './manifestSchema.js';

export interface BuildIndexOptions {
  /** Folder of the precomp split ({split}_ims.npy) and its vocabulary. */
  data: string;
  split: string;
  checkpoint: string;
  out: string;
  /** Images per GPU batch and per commit (default 2048). */
  batchSize?: number;
  /** Default 'maxsim' (measured: bench/RESULTS.md, search); 'student' needs `student`. */
  coarse?: CoarseKind;
  /** coarse 'student': the student file (bench/distill.mjs, studentToSafetensors) distilled from this checkpoint's model; copied into the index. */
  student?: string;
  /** 'auto' (default): IVF_PQ from 4096 coarse vectors (autoUsesAnn), else none (the coarse search is then exact). */
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
  /**
   * Aborted: stops after the batch being committed, or at once during the ANN index build (which
   * LanceDB cannot interrupt: it runs on in the background, see `BuildIndexResult.settled`). The
   * index stays incomplete and resumable; a rerun redoes the ANN step.
   */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface BuildIndexResult {
  manifest: IndexManifest;
  /** Rows that were already committed when this call started (0 for a fresh build). */
  resumedFrom: number;
  stopped: boolean;
  /** Where a stopped build stopped: between image batches, or at (or during) the ANN index build. */
  stoppedIn?: 'images' | 'ann';
  /**
   * Stopped during the ANN build: settles when LanceDB's build, left running, has ended and the
   * index's lock is released (a resume before that is refused as a concurrent build).
   */
  settled?: Promise<void>;
  seconds: number;
}

const ANN_MIN_VECTORS = 4096;

/**
 * 'auto': an IVF_PQ index once the coarse column holds 4096 vectors (a MaxSim index holds R per
 * image). Counted in vectors, not images: at R 36, D 1024 an exact MaxSim scan of 3000 images
 * (108,000 region vectors) took 11 s a query here (bench/RESULTS.md, search.real).
 */
export function autoUsesAnn(coarse: CoarseKind, images: number, regions: number): boolean {
  return (coarse === 'maxsim' ? images * regions : images) >= ANN_MIN_VECTORS;
}

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

/** Entries of an index folder that are not the index's own: the lock (or a stale one moved aside), a manifest being written. */
function foreignEntries(entries: string[]): string[] {
  return entries.filter((name) => name !== LOCK && !name.startsWith(`${LOCK}.stale-`) && !name.startsWith(`${MANIFEST}.tmp-`));
}

/**
 * Refuses `out` before anything is written into it: a file, or a folder that holds other things
 * and no manifest (a broken manifest is refused by readManifest).
 */
async function checkOut(what: string, out: string): Promise<void> {
  const info = await stat(out).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (!info) return;
  if (!info.isDirectory()) throw new Error(`${what}: --out ${out} is a file, not a folder; choose an empty or new --out`);
  if (await readManifest(out)) return;
  if (foreignEntries(await readdir(out)).length > 0) throw new Error(`${what}: ${out} exists and is not a search index (no ${MANIFEST}); choose an empty or new --out`);
}

/** Resolves when `signal` is aborted (never without one). */
function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((done) => {
    if (!signal) return;
    if (signal.aborted) done();
    else signal.addEventListener('abort', () => done(), { once: true });
  });
}

export async function buildIndex(engine: NaafEngine, o: BuildIndexOptions): Promise<BuildIndexResult> {
  const started = performance.now();
  const what = 'naaf index';
  const batchSize = o.batchSize ?? 2048;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${what}: batchSize must be a positive integer, got ${o.batchSize}`);
  const coarse = o.coarse ?? 'maxsim';
  if (coarse !== 'mean' && coarse !== 'maxsim' && coarse !== 'student') throw new Error(`${what}: coarse must be 'mean', 'maxsim' or 'student', got ${JSON.stringify(o.coarse)}`);
  if (coarse === 'student' && (typeof o.student !== 'string' || o.student === '')) throw new Error(`${what}: coarse 'student' needs --student, the student file distilled from the checkpoint's model (bench/distill.mjs)`);
  if (coarse !== 'student' && o.student !== undefined) throw new Error(`${what}: --student is for coarse 'student', not ${JSON.stringify(coarse)}`);
  const annChoice = o.ann ?? 'auto';
  if (!['auto', 'ivf_pq', 'flat'].includes(annChoice)) throw new Error(`${what}: ann must be 'auto', 'ivf_pq' or 'flat', got ${JSON.stringify(o.ann)}`);
  const out = resolve(o.out);
  if (o.table !== undefined && (typeof o.table !== 'string' || o.table === '')) throw new Error(`${what}: table must be a folder or a URI, got ${JSON.stringify(o.table)}`);
  const tableSetting = o.table === undefined ? DEFAULT_TABLE : isUri(o.table) ? o.table : resolve(o.table);
  const tableProblem = tableLocationProblem(tableSetting);
  if (tableProblem) throw new Error(`${what}: table must be ${tableProblem}, got ${JSON.stringify(o.table).slice(0, 80)}`);
  const stopRequested = () => o.signal?.aborted === true;

  // One writer at a time: the lock is taken before anything else is written into `out`.
  await checkOut(what, out);
  const createdDir = (await mkdir(out, { recursive: true })) !== undefined;
  let lock: IndexLock;
  try {
    lock = await acquireIndexLock(out, what, o.log);
  } catch (error) {
    if (createdDir) await rmdir(out).catch(() => {});
    throw error;
  }
  let model: Awaited<ReturnType<NaafEngine['loadModel']>> | null = null;
  let table: LanceTable | null = null;
  let db: LanceConnection | null = null;
  let reader: NpyReader | null = null;
  /** Set when LanceDB's ANN build was left running: the table and the lock are let go when it ends. */
  let settled: Promise<void> | undefined;
  let wroteManifest = false;
  try {
    const lance = await loadLance();
    reader = await NpyReader.open(join(o.data, `${o.split}_ims.npy`)).catch((error: Error) => {
      throw new Error(`${what}: cannot read the ${o.split} split's images in ${o.data}: ${error.message}`);
    });
    model = await engine.loadModel(o.checkpoint);
    // The same rule as every other reader of a split (src/data/precomp.ts).
    const [N, R, imgDim] = checkSplitImages(join(o.data, `${o.split}_ims.npy`), reader.shape);
    if (imgDim !== model.config.imgDim) throw new Error(`${what}: the images have ${imgDim} features but the model expects imgDim ${model.config.imgDim}`);
    const E = model.config.embedSize;
    const identity = await checkpointIdentity(o.checkpoint, model.config);
    let student: Student | null = null;
    let studentFile: Awaited<ReturnType<typeof readStudentFile>> | null = null;
    if (coarse === 'student') {
      studentFile = await readStudentFile(o.student!, E, what);
      student = studentFile.student;
    }
    const data = { dir: resolve(o.data), split: o.split, images: N, regions: R, imgDim };
    const stopped = (resumedFrom: number, stoppedIn: 'images' | 'ann', m: IndexManifest): BuildIndexResult =>
      ({ manifest: m, resumedFrom, stopped: true, stoppedIn, ...(settled ? { settled } : {}), seconds: (performance.now() - started) / 1000 });

    // Read again under the lock: another build may have started or finished it meanwhile.
    let manifest = await readManifest(out);
    let createdOut = false;
    if (manifest) {
      wroteManifest = true;
      if (manifest.checkpoint.sha256 !== identity.sha256) {
        throw new Error(`${what}: ${out} is an index of another checkpoint (sha256 ${manifest.checkpoint.sha256.slice(0, 12)}…, built from ${manifest.checkpoint.path}); ${o.checkpoint} is ${identity.sha256.slice(0, 12)}…. Choose another --out`);
      }
      if (!same(manifest.data, data) || manifest.coarse !== coarse) {
        throw new Error(`${what}: ${out} was started for ${manifest.data.dir} split ${manifest.data.split} (${manifest.data.images} images, coarse ${manifest.coarse}), not ${data.dir} split ${o.split} (${N} images, coarse ${coarse}). Choose another --out`);
      }
      if ((manifest.table ?? DEFAULT_TABLE) !== tableSetting) {
        throw new Error(`${what}: ${out} was started with its table at ${manifest.table ?? DEFAULT_TABLE}, not ${tableSetting}; pass the same --table to resume it, or choose another --out`);
      }
      if (studentFile && manifest.student?.sha256 !== studentFile.identity.sha256) {
        throw new Error(`${what}: ${out} was started with the student ${manifest.student?.path} (sha256 ${manifest.student?.sha256.slice(0, 12)}…), not ${o.student} (${studentFile.identity.sha256.slice(0, 12)}…); resume with that student, or choose another --out`);
      }
      if (manifest.embedSize !== E) {
        throw new Error(`${what}: ${out}'s manifest says embedSize ${manifest.embedSize}, but the checkpoint's model has embedSize ${E}; the manifest was edited: build into a new --out`);
      }
      if (manifest.complete) {
        o.log?.(`${out} is already complete (${manifest.rows} images)`);
        return { manifest, resumedFrom: manifest.rows, stopped: false, seconds: (performance.now() - started) / 1000 };
      }
    } else {
      if (foreignEntries(await readdir(out)).length > 0) throw new Error(`${what}: ${out} exists and is not a search index (no ${MANIFEST}); choose an empty or new --out`);
      if (tableSetting !== DEFAULT_TABLE) {
        // A table already there belongs to another index (or to someone else): never append to it.
        const location = tableLocation(out, tableSetting);
        const existing = await connectTable(what, lance, location, o.storageOptions);
        const names = await lanceCall(`${what}: cannot list the tables at ${location}`, () => existing.tableNames()).finally(() => existing.close());
        if (names.includes(TABLE)) throw new Error(`${what}: ${tableSetting} already holds a LanceDB table '${TABLE}' (another index's?); choose another --table`);
      }
      manifest = {
        format: INDEX_FORMAT, version: INDEX_VERSION, complete: false, checkpoint: identity, data, embedSize: E, coarse,
        ...(studentFile ? { student: { file: STUDENT_FILE, ...studentFile.identity } } : {}), ann: { kind: 'flat' }, ...(tableSetting === DEFAULT_TABLE ? {} : { table: tableSetting }), tableId: randomUUID(),
        rows: 0, vocab: 'vocab.json', startedAt: new Date().toISOString(),
      };
      createdOut = true;
      await writeManifest(out, manifest); // first: from here on the folder is ours, and resumable
      wroteManifest = true;
    }
    // (Again) on every incomplete build: a crash may have come before it. Written only inside
    // the folder, never through a symlink (removed first, so copyFile makes a new file).
    const vocab = o.vocab ?? (await findVocabulary(o.data, model.config.textEncoder)).path;
    const vocabTarget = await confinedPath(out, manifest.vocab, `${what}: ${out}`, 'vocab');
    await rm(vocabTarget, { force: true });
    await copyFile(vocab, vocabTarget);
    if (studentFile) {
      // The search embeds captions with this copy (its sha256 is checked there).
      const target = await confinedPath(out, manifest.student!.file, `${what}: ${out}`, 'student');
      await rm(target, { force: true });
      await writeFile(target, studentFile.bytes);
    }
    const C = coarseDim(manifest);

    const location = tableLocation(out, manifest.table);
    const where = `the table at ${location}`;
    const gone = `${what}: the table of ${out} at ${location} is gone (moved or deleted); build into a new --out`;
    if (manifest.tableCreated && !isUri(location) && !existsSync(location)) throw new Error(gone); // before connecting, which would create the folder
    db = await connectTable(what, lance, location, o.storageOptions);
    const connection = db;
    const schema = imageSchema(lance, E, manifest.tableId, C);
    if ((await lanceCall(`${what}: cannot list the tables at ${location}`, () => connection.tableNames())).includes(TABLE)) {
      table = await lanceCall(`${what}: cannot open ${where}`, () => connection.openTable(TABLE));
      const id = await tableIdOf(table, `${what}: ${where}`);
      if (manifest.tableId && id !== manifest.tableId) {
        throw new Error(`${what}: the table at ${location} belongs to another index (id ${id ?? 'none'}, ${out} is ${manifest.tableId}); it is left as it is. Choose another --table and --out`);
      }
      await checkTableWidth(table, `${what}: ${where}`, E, `the checkpoint's model (with the index's student)`, C);
    } else {
      if (manifest.tableCreated) throw new Error(gone);
      try {
        table = await connection.createEmptyTable(TABLE, schema, { mode: 'create' });
      } catch (error) {
        // Another build created it between the check above and here: refuse, leaving nothing of ours.
        if (createdOut) await rm(out, { recursive: true, force: true });
        throw new Error(`${what}: cannot create the table at ${location}: ${lanceCause(error)}; choose another --table`, { cause: error });
      }
      manifest = { ...manifest, tableCreated: true };
      await writeManifest(out, manifest);
    }
    const images = table;
    const resumedFrom = await lanceCall(`${what}: cannot count the rows of ${where}`, () => images.countRows());
    if (resumedFrom > N) throw new Error(`${what}: ${out} holds ${resumedFrom} rows, more than the split's ${N} images`);
    if (resumedFrom > 0) o.log?.(`resuming ${out} at image ${resumedFrom} of ${N}`);
    o.onProgress?.(resumedFrom, N);
    if (resumedFrom < N && stopRequested()) return stopped(resumedFrom, 'images', manifest);
    for (let start = resumedFrom; start < N; start += batchSize) {
      const n = Math.min(batchSize, N - start);
      const features = await reader.readRows(start, n);
      const embedded = await model.encodeImages({ data: features, shape: [n, R, imgDim] });
      const ids = Int32Array.from({ length: n }, (_, i) => start + i);
      // One add = one Lance commit: a crash leaves the table at the previous batch.
      let vectors: Float32Array;
      if (student) {
        const raw = embedTower(student.image, { data: embedded.data, shape: [n, R, E] });
        if (!manifest.student!.normalize && manifest.student!.maxNorm === undefined) {
          // The map to unit vectors is fixed by the first batch, before it is committed, so a
          // resume keeps it; rows without it would mix two maps.
          if (start !== 0) throw new Error(`${what}: ${out} holds ${start} rows of an inner-product student's vectors but its manifest has no student.maxNorm (edited, or lost in a crash); build into a new --out`);
          manifest = { ...manifest, student: { ...manifest.student!, maxNorm: maxNormOf(raw, manifest.student!.dim) } };
          await writeManifest(out, manifest);
        }
        vectors = coarseImageVectors(manifest.student!, raw);
      } else {
        vectors = meanVectors(embedded.data, n, R, E);
      }
      const batch = imageBatch(lance, schema, ids, vectors, embedded.data, R, E);
      await lanceCall(`${what}: cannot add images ${start}..${start + n - 1} to ${where}`, () => images.add(batch));
      o.onProgress?.(start + n, N);
      if (start + n < N && (o.shouldStop?.() || stopRequested())) return stopped(resumedFrom, 'images', manifest);
    }

    const useAnn = annChoice === 'ivf_pq' || (annChoice === 'auto' && autoUsesAnn(coarse, N, R));
    let ann: IndexManifest['ann'] = { kind: 'flat' };
    if (stopRequested()) return stopped(resumedFrom, 'ann', manifest);
    if (useAnn) {
      const partitions = Math.max(1, Math.min(1024, Math.round(Math.sqrt(coarse === 'maxsim' ? N * R : N) / 2)));
      const subVectors = subVectorsOf(C);
      const column = coarse === 'maxsim' ? 'regions' : 'coarse';
      const distanceType = 'cosine'; // a student's too: its column holds unit vectors (indexStudent.ts)
      o.log?.(`building the IVF_PQ index on ${column} (${partitions} partitions, ${subVectors} sub-vectors)`);
      const building = lanceCall(`${what}: cannot build the IVF_PQ index of ${where}`, () => images.createIndex(column, {
        config: lance.Index.ivfPq({ numPartitions: partitions, numSubVectors: subVectors, distanceType }), name: 'coarse_ann', replace: true,
      }));
      const outcome = await Promise.race([building.then(() => 'built' as const), aborted(o.signal).then(() => 'stopped' as const)]);
      if (outcome === 'stopped') {
        // LanceDB cannot interrupt its index build: stop waiting; it runs on, holding the table
        // and the lock, until it ends (a process that exits ends it, and its lock with it).
        const [t, d, l] = [images, connection, lock];
        table = null;
        db = null;
        settled = building.then(() => {}, () => {}).finally(async () => {
          t.close();
          d.close();
          await l.release();
        });
        return stopped(resumedFrom, 'ann', manifest);
      }
      ann = { kind: 'ivf_pq', partitions, subVectors };
    }
    if (stopRequested()) return stopped(resumedFrom, 'ann', manifest);
    const seconds = (performance.now() - started) / 1000;
    manifest = { ...manifest, complete: true, rows: N, ann, completedAt: new Date().toISOString(), buildSeconds: seconds };
    await writeManifest(out, manifest);
    return { manifest, resumedFrom, stopped: false, seconds };
  } finally {
    table?.close();
    db?.close();
    model?.destroy();
    await reader?.close();
    if (!settled) {
      await lock.release();
      // A fresh build that failed before its first manifest leaves no empty folder behind.
      if (createdDir && !wroteManifest) await rmdir(out).catch(() => {});
    }
  }
}
