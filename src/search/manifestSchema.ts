// The schema of naaf-index.json, checked field by field when it is read: a manifest is a file
// anyone can edit, and what it says decides which files are read, which table is opened and how
// it is searched. Errors name the field, what was expected and the value found (truncated: a
// manifest's text is never echoed beyond the offending value).
import { isAbsolute, normalize, sep } from 'node:path';
import type { IndexManifest } from './manifest.js';

/** URI schemes of the stores LanceDB opens (object storage, and file:// for a local folder). */
export const TABLE_SCHEMES = ['s3', 's3+ddb', 'gs', 'az', 'abfss', 'file'] as const;

type Record_ = Record<string, unknown>;

/** A value as an error shows it: its JSON, cut to 60 characters. */
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

const isRecord = (value: unknown): value is Record_ => typeof value === 'object' && value !== null && !Array.isArray(value);

class Checker {
  constructor(private readonly prefix: string) {}

  fail(field: string, expected: string, value: unknown): never {
    throw new Error(`${this.prefix} field ${field} must be ${expected}, got ${shown(value)}`);
  }

  object(parent: Record_, key: string, field: string, known: readonly string[]): Record_ {
    const value = parent[key];
    if (!isRecord(value)) this.fail(field, 'an object', value);
    this.onlyKnown(value, field, known);
    return value;
  }

  onlyKnown(value: Record_, field: string, known: readonly string[]): void {
    const stranger = Object.keys(value).find((k) => !known.includes(k));
    if (stranger !== undefined) throw new Error(`${this.prefix}${field ? ` field ${field}` : ''} has an unknown field ${shown(stranger)} (known: ${known.join(', ')})`);
  }

  string(value: unknown, field: string, { optional = false, nonEmpty = true } = {}): void {
    if (optional && value === undefined) return;
    if (typeof value !== 'string' || (nonEmpty && value === '') || value.includes('\0')) this.fail(field, nonEmpty ? 'a non-empty string' : 'a string', value);
  }

  integer(value: unknown, field: string, min: number, { optional = false } = {}): void {
    if (optional && value === undefined) return;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) this.fail(field, min === 0 ? 'an integer >= 0' : 'a positive integer', value);
  }

  number(value: unknown, field: string, { optional = false, min = -Infinity, nullable = false } = {}): void {
    if ((optional && value === undefined) || (nullable && value === null)) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) this.fail(field, `a finite number${min > -Infinity ? ` >= ${min}` : ''}${nullable ? ' or null' : ''}`, value);
  }

  boolean(value: unknown, field: string, { optional = false } = {}): void {
    if (optional && value === undefined) return;
    if (typeof value !== 'boolean') this.fail(field, 'true or false', value);
  }

  oneOf<T>(value: unknown, field: string, allowed: readonly T[]): void {
    if (!allowed.includes(value as T)) this.fail(field, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }

  date(value: unknown, field: string, { optional = false } = {}): void {
    if (optional && value === undefined) return;
    if (typeof value !== 'string' || value.length > 40 || Number.isNaN(Date.parse(value))) this.fail(field, 'an ISO date', value);
  }
}

/**
 * True for a path naming a file inside its folder: relative, no `..` step, no backslash (a
 * separator on Windows). Symlinks are resolved where the file is read (`confinedPath`).
 */
export function isInsidePath(path: string): boolean {
  if (path === '' || path.includes('\0') || path.includes('\\') || isAbsolute(path)) return false;
  const normal = normalize(path);
  return normal !== '.' && normal !== '..' && !normal.startsWith(`..${sep}`);
}

/** The recorded table location: 'lance' (in the folder), an absolute normalised local path, or a URI of a known scheme. */
export function tableLocationProblem(table: string): string | null {
  if (table.includes('\0')) return 'no NUL character';
  const scheme = /^([a-z][a-z0-9+.-]+):\/\//i.exec(table)?.[1];
  if (scheme !== undefined) {
    return (TABLE_SCHEMES as readonly string[]).includes(scheme.toLowerCase()) ? null : `a URI of a known scheme (${TABLE_SCHEMES.map((s) => `${s}://`).join(', ')})`;
  }
  if (table === 'lance') return null;
  if (!isAbsolute(table) || normalize(table) !== table) return "'lance', an absolute local path as the build recorded it, or an object-storage URI";
  return null;
}

const TOP = ['format', 'version', 'complete', 'checkpoint', 'data', 'embedSize', 'coarse', 'student', 'ann', 'table', 'tableId', 'tableCreated', 'rows', 'vocab', 'startedAt', 'completedAt', 'buildSeconds'];

/** `data` (parsed JSON) as an IndexManifest, or an error naming the first field that is wrong; `prefix` starts every message. */
export function validateManifest(data: unknown, prefix: string, format: string, versions: readonly number[]): IndexManifest {
  const c: Checker = new Checker(prefix); // typed, so that its `never` methods narrow
  if (!isRecord(data)) throw new Error(`${prefix} must hold a JSON object, got ${shown(data)}`);
  if (data.format !== format || !versions.includes(data.version as number)) {
    throw new Error(`${prefix} is format ${shown(data.format)} version ${shown(data.version)}, expected ${format} version ${versions.join(' or ')}`);
  }
  c.onlyKnown(data, '', TOP);
  c.boolean(data.complete, 'complete');

  const checkpoint = c.object(data, 'checkpoint', 'checkpoint', ['sha256', 'bytes', 'path', 'config']);
  if (typeof checkpoint.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(checkpoint.sha256)) c.fail('checkpoint.sha256', '64 lowercase hex digits (a sha256)', checkpoint.sha256);
  c.integer(checkpoint.bytes, 'checkpoint.bytes', 1);
  c.string(checkpoint.path, 'checkpoint.path');
  // The model's own fields; others a newer model may add are left to it.
  const config = checkpoint.config;
  if (!isRecord(config)) c.fail('checkpoint.config', 'an object', config);
  for (const key of ['imgDim', 'embedSize', 'wordDim', 'vocabSize'] as const) c.integer(config[key], `checkpoint.config.${key}`, 1);
  c.oneOf(config.textEncoder, 'checkpoint.config.textEncoder', ['basic', 'glove']);
  c.number(config.threshold, 'checkpoint.config.threshold', { nullable: true });
  c.number(config.lambdaSoftmax, 'checkpoint.config.lambdaSoftmax', { min: 0 });

  const split = c.object(data, 'data', 'data', ['dir', 'split', 'images', 'regions', 'imgDim']);
  c.string(split.dir, 'data.dir');
  c.string(split.split, 'data.split');
  for (const key of ['images', 'regions', 'imgDim'] as const) c.integer(split[key], `data.${key}`, 1);
  if (split.imgDim !== config.imgDim) c.fail('data.imgDim', `checkpoint.config.imgDim (${config.imgDim as number})`, split.imgDim);

  c.integer(data.embedSize, 'embedSize', 1);
  if (data.embedSize !== config.embedSize) c.fail('embedSize', `checkpoint.config.embedSize (${config.embedSize as number})`, data.embedSize);
  c.oneOf(data.coarse, 'coarse', ['mean', 'maxsim', 'student']);
  if (data.coarse === 'student') {
    const student = c.object(data, 'student', 'student', ['file', 'sha256', 'bytes', 'path', 'dim', 'normalize', 'maxNorm']);
    // Its one name: a build rewrites it on resume, so it must never name another file of the index.
    if (student.file !== 'student.safetensors') c.fail('student.file', '"student.safetensors"', student.file);
    if (typeof student.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(student.sha256)) c.fail('student.sha256', '64 lowercase hex digits (a sha256)', student.sha256);
    c.integer(student.bytes, 'student.bytes', 1);
    c.string(student.path, 'student.path');
    c.integer(student.dim, 'student.dim', 1);
    c.boolean(student.normalize, 'student.normalize');
    if (student.normalize) {
      if (student.maxNorm !== undefined) c.fail('student.maxNorm', 'absent for a cosine student', student.maxNorm);
    } else {
      // Set with the first batch, so a complete index has it.
      if (data.complete === true || student.maxNorm !== undefined) {
        if (typeof student.maxNorm !== 'number' || !Number.isFinite(student.maxNorm) || !(student.maxNorm > 0)) c.fail('student.maxNorm', 'a positive number', student.maxNorm);
      }
    }
  } else if (data.student !== undefined) {
    c.fail('student', "absent unless coarse is 'student'", data.student);
  }

  const ann = c.object(data, 'ann', 'ann', ['kind', 'partitions', 'subVectors']);
  c.oneOf(ann.kind, 'ann.kind', ['ivf_pq', 'flat']);
  if (ann.kind === 'ivf_pq') {
    c.integer(ann.partitions, 'ann.partitions', 1);
    c.integer(ann.subVectors, 'ann.subVectors', 1);
  } else {
    if (ann.partitions !== undefined) c.fail('ann.partitions', "absent when ann.kind is 'flat'", ann.partitions);
    if (ann.subVectors !== undefined) c.fail('ann.subVectors', "absent when ann.kind is 'flat'", ann.subVectors);
  }

  if (data.table !== undefined) {
    c.string(data.table, 'table');
    const problem = tableLocationProblem(data.table as string);
    if (problem) c.fail('table', problem, data.table);
  }
  if (data.version === 2 || data.tableId !== undefined) {
    if (typeof data.tableId !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(data.tableId)) c.fail('tableId', 'a UUID (version 2 manifests carry one)', data.tableId);
  }
  c.boolean(data.tableCreated, 'tableCreated', { optional: true });

  c.integer(data.rows, 'rows', 0);
  if (data.complete && data.rows !== split.images) c.fail('rows', `data.images (${split.images as number}) in a complete index`, data.rows);
  c.string(data.vocab, 'vocab');
  if (!isInsidePath(data.vocab as string)) c.fail('vocab', 'a relative path inside the index folder', data.vocab);
  c.date(data.startedAt, 'startedAt');
  c.date(data.completedAt, 'completedAt', { optional: true });
  c.number(data.buildSeconds, 'buildSeconds', { optional: true, min: 0 });
  return data as unknown as IndexManifest;
}
