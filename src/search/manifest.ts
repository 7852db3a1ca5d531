// INDEX/naaf-index.json: what a search index holds and how it was built. Written atomically
// (temp file, rename), first with complete = false, and complete = true only once every image
// row and the ANN index are committed, so a half-built index is never taken for a whole one.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../model/load.js';
import type { ModelConfig } from '../model/weights.js';
import { readConfined } from './confined.js';
import { validateManifest } from './manifestSchema.js';
import { studentColumnWidth } from './indexStudent.js';

export const INDEX_FORMAT = 'naaf-search-index';
/** 2: the table may live elsewhere (`table`) and carries the index's id (`tableId`); version 1 is still read. */
export const INDEX_VERSION = 2;
export const MANIFEST = 'naaf-index.json';

/**
 * mean: one vector per image (its regions' mean, normalised), cosine to the caption's mean word;
 * maxsim: LanceDB's multi-vector MaxSim, sum over words of the best region cosine; student: one
 * vector per image from a student distilled from NAAF (src/search/distill.ts), its inner product
 * (or cosine) with the caption's vector from the student's text tower.
 */
export type CoarseKind = 'mean' | 'maxsim' | 'student';

/** The student an index's coarse column was computed with: a copy inside the index folder. */
export interface StudentIdentity {
  /** Relative path of the copy inside the index folder. */
  file: string;
  sha256: string;
  bytes: number;
  /** Where it was read from at build time (informative only). */
  path: string;
  /** The student's outDim (the coarse column's width is studentColumnWidth of this). */
  dim: number;
  /** Whether its vectors are unit length (a cosine student; else an inner-product one). */
  normalize: boolean;
  /** Inner-product student: M of the coarse column's map to unit vectors (indexStudent.ts), set from the first batch. */
  maxNorm?: number;
}

export interface CheckpointIdentity {
  sha256: string;
  bytes: number;
  /** Where it was read from at build time (informative only: the hash is the identity). */
  path: string;
  config: ModelConfig;
}

export interface IndexManifest {
  format: typeof INDEX_FORMAT;
  version: 1 | 2;
  complete: boolean;
  checkpoint: CheckpointIdentity;
  data: { dir: string; split: string; images: number; regions: number; imgDim: number };
  embedSize: number;
  coarse: CoarseKind;
  /** coarse 'student' only: the student whose image vectors fill the coarse column. */
  student?: StudentIdentity;
  /** The ANN index on the coarse column ('flat': none, exhaustive coarse search). */
  ann: { kind: 'ivf_pq' | 'flat'; partitions?: number; subVectors?: number };
  /**
   * The LanceDB database holding the `images` table: 'lance' (a folder inside the index; absent
   * in older manifests means the same), an absolute local path, or an object-storage URI.
   */
  table?: string;
  /** Random id, also in the table's schema metadata: another index's table is refused. */
  tableId?: string;
  /** Set once the table exists: a resume that finds none refuses instead of starting over. */
  tableCreated?: boolean;
  /** Image rows committed when complete. */
  rows: number;
  vocab: string;
  startedAt: string;
  completedAt?: string;
  /** Seconds of the call that completed it (after a resume: that call's only). */
  buildSeconds?: number;
}

/** A file's sha256 and size, streamed. */
export async function fileHash(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export async function checkpointIdentity(path: string, config: ModelConfig): Promise<CheckpointIdentity> {
  return { ...(await fileHash(path)), path, config };
}

/** Coarse vectors' width: the student's column (indexStudent.ts) for a student index, else the model's embedSize. */
export function coarseDim(manifest: Pick<IndexManifest, 'coarse' | 'student' | 'embedSize'>): number {
  return manifest.coarse === 'student' ? studentColumnWidth(manifest.student!) : manifest.embedSize;
}

/** Largest manifest read (a real one is a few KiB). */
const MAX_MANIFEST_BYTES = 1 << 20;

/**
 * The manifest of `dir`, null if it has none; an error if it is not one of ours or any field is
 * wrong (manifestSchema.ts), naming the field, the expectation and the value.
 */
export async function readManifest(dir: string): Promise<IndexManifest | null> {
  const prefix = `search index ${dir}: ${MANIFEST}`;
  let text: string;
  try {
    text = await readConfined(dir, MANIFEST, `search index ${dir}`, 'the manifest', MAX_MANIFEST_BYTES);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text: not repeated here.
    throw new Error(`${prefix} is not valid JSON (${text.length} characters); restore it or rebuild the index`);
  }
  return validateManifest(data, prefix, INDEX_FORMAT, [1, INDEX_VERSION]);
}

export async function writeManifest(dir: string, manifest: IndexManifest): Promise<void> {
  await writeFileAtomic(join(dir, MANIFEST), new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`));
}

/** Bytes under `dir` (the index's size on disk). */
export async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name))).size;
  }
  return total;
}
