// The student of a 'student' index (coarse: one vector per image, src/search/student.ts): read at
// build time from the user's file and copied into the index folder, whose sha256 the manifest
// records, so a search embeds its captions with exactly the tower the image vectors came from.
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { readConfinedBytes } from './confined.js';
import type { IndexManifest, StudentIdentity } from './manifest.js';
import { studentFromSafetensors, type Student } from './student.js';

export const STUDENT_FILE = 'student.safetensors';
/** Largest student read (one of hidden 256 over D 1024 is about 2 MiB). */
const MAX_STUDENT_BYTES = 256 << 20;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function checkFits(student: Student, embedSize: number, label: string): void {
  for (const side of ['image', 'text'] as const) {
    const t = student[side];
    if (t.inDim !== embedSize) throw new Error(`${label}: its ${side} tower reads ${t.inDim}-wide embeddings, but the checkpoint's model has embedSize ${embedSize}; distil a student from this model`);
  }
  if (student.image.outDim !== student.text.outDim) throw new Error(`${label}: its image tower gives ${student.image.outDim}-wide vectors, its text tower ${student.text.outDim}`);
  if (student.image.normalize !== student.text.normalize) throw new Error(`${label}: one tower normalises its vectors and the other does not`);
}

/** The user's student file: parsed, checked against the model, with its bytes and identity. */
export async function readStudentFile(path: string, embedSize: number, what: string): Promise<{ student: Student; bytes: Uint8Array; identity: Omit<StudentIdentity, 'file'> }> {
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${what}: cannot read the student ${path} (${error.code ?? error.message})`);
  });
  const label = `${what}: the student ${path}`;
  const { student } = studentFromSafetensors(bytes, label);
  checkFits(student, embedSize, label);
  return { student, bytes, identity: { sha256: sha256(bytes), bytes: bytes.length, path, dim: student.image.outDim, normalize: student.image.normalize } };
}

/** The index's own copy of its student, refused unless it is the file the build used. */
export async function readIndexStudent(root: string, manifest: IndexManifest): Promise<Student> {
  const identity = manifest.student!;
  const what = `search: the index ${root}`;
  const bytes = await readConfinedBytes(root, identity.file, what, 'student', MAX_STUDENT_BYTES);
  const hash = sha256(bytes);
  if (hash !== identity.sha256) {
    throw new Error(`${what}: its student ${identity.file} (sha256 ${hash.slice(0, 12)}…) is not the one its coarse vectors were computed with (${identity.sha256.slice(0, 12)}…); restore it or rebuild the index`);
  }
  const { student } = studentFromSafetensors(bytes, `${what}: student ${identity.file}`);
  checkFits(student, manifest.embedSize, `${what}: student ${identity.file}`);
  if (student.image.normalize !== identity.normalize) throw new Error(`${what}: its student ${student.image.normalize ? 'normalises' : 'does not normalise'} its vectors, its manifest says otherwise; rebuild the index`);
  if (student.image.outDim !== identity.dim) throw new Error(`${what}: its student gives ${student.image.outDim}-wide vectors, its manifest says ${identity.dim}; rebuild the index`);
  return student;
}

/** The coarse column's width for a student: an inner-product one's plus one, padded with zeros to a multiple of 8 (so IVF_PQ gets sub-vectors of 4). */
export function studentColumnWidth(identity: Pick<StudentIdentity, 'normalize' | 'dim'>): number {
  return identity.normalize ? identity.dim : Math.ceil((identity.dim + 1) / 8) * 8;
}

/**
 * The coarse column of an inner-product student (an ANN of LanceDB clusters by cosine: by inner
 * product its k-means leaves most partitions empty): each image vector x as the unit vector
 * [x / M, sqrt(1 - |x / M|^2), 0...] (the MIPS-to-cosine map of Bachrach et al. 2014; the zeros
 * pad it to studentColumnWidth). Against the query [q, 0...] its cosine is x · q / (M |q|): the
 * inner-product ranking, for every |x| <= M. A longer x keeps 0 in the extra dimension: LanceDB
 * then ranks it by its own cosine (lower), while a resident index's flat pass (vectorTopK) still
 * ranks it by x · q / M. A cosine student's vectors are unit already and stay as they are.
 */
export function coarseImageVectors(identity: Pick<StudentIdentity, 'normalize' | 'dim' | 'maxNorm'>, vectors: Float32Array): Float32Array {
  if (identity.normalize) return vectors;
  const S = identity.dim;
  const W = studentColumnWidth(identity);
  const M = identity.maxNorm!;
  const n = vectors.length / S;
  const out = new Float32Array(n * W);
  for (let i = 0; i < n; i++) {
    let norm2 = 0;
    for (let d = 0; d < S; d++) {
      const v = vectors[i * S + d]! / M;
      out[i * W + d] = v;
      norm2 += v * v;
    }
    out[i * W + S] = Math.sqrt(Math.max(0, 1 - norm2));
  }
  return out;
}

/** The queries [count, dim] against coarseImageVectors' column: [q, 0...] for an inner-product student. */
export function coarseQueryVectors(identity: Pick<StudentIdentity, 'normalize' | 'dim'>, queries: Float32Array): Float32Array {
  if (identity.normalize) return queries;
  const S = identity.dim;
  const W = studentColumnWidth(identity);
  const n = queries.length / S;
  const out = new Float32Array(n * W);
  for (let i = 0; i < n; i++) out.set(queries.subarray(i * S, (i + 1) * S), i * W);
  return out;
}

/** M for coarseImageVectors from an index's first batch: twice its longest vector (1 if all are zero). */
export function maxNormOf(vectors: Float32Array, S: number): number {
  let most = 0;
  for (let i = 0; i < vectors.length; i += S) {
    let norm2 = 0;
    for (let d = 0; d < S; d++) norm2 += vectors[i + d]! * vectors[i + d]!;
    most = Math.max(most, Math.sqrt(norm2));
  }
  return most > 0 && Number.isFinite(most) ? 2 * most : 1;
}
