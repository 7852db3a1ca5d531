// An index manifest is checked before it is used: every field's type and allowed values, the
// vocabulary confined to the index folder (no `..`, no absolute path, no symlink out), the table
// location as the build recorded it; errors name field, expectation and value and never quote a
// file. A wrong embedSize is our error, naming both numbers; LanceDB's errors come wrapped.
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIndex, SearchIndex } from '../../src/search/index.js';
import { TABLE, checkTableWidth, connectTable, imageSchema, loadLance } from '../../src/search/lance.js';
import { lanceCall, lanceCause } from '../../src/search/lanceErrors.js';
import { sharedEngine } from '../gpu.js';
import { writeGallery, type Gallery } from './fixture.js';

const engine = await sharedEngine();
const root = mkdtempSync(join(tmpdir(), 'naaf-manifest-'));
const out = join(root, 'index');
const secret = join(root, 'secret.json');
const SECRET = 'root:x:0:0:TOP-SECRET';
let gallery: Gallery;
let good: Record<string, any>;
const manifestPath = join(out, 'naaf-index.json');

beforeAll(async () => {
  gallery = await writeGallery(root, 300);
  writeFileSync(secret, `${SECRET}\n`);
  await buildIndex(engine, { data: gallery.data, split: 'test', checkpoint: gallery.checkpoint, out, batchSize: 300, ann: 'flat' });
  good = JSON.parse(readFileSync(manifestPath, 'utf8'));
});

/** `open` with the manifest `text` refuses with `message` (a string: contained; a RegExp: matched), quoting no file. */
async function refused(text: string, message: string | RegExp): Promise<void> {
  writeFileSync(manifestPath, text);
  const error = await SearchIndex.open(engine, out, gallery.checkpoint).then(() => null, (e: Error) => e);
  expect(error, text).not.toBeNull();
  if (typeof message === 'string') expect(error!.message, text).toContain(message);
  else expect(error!.message, text).toMatch(message);
  expect(error!.message).not.toContain('TOP-SECRET');
}
const edited = (change: (m: Record<string, any>) => void) => {
  const m = structuredClone(good);
  change(m);
  return JSON.stringify(m);
};

it('refuses each wrong field, naming it, the expectation and the value', async () => {
  const at = `search index ${out}: naaf-index.json`;
  await refused('null', `${at} must hold a JSON object, got null`);
  await refused('[1]', `${at} must hold a JSON object, got an array`);
  await refused(`{"format": "${SECRET}`, `${at} is not valid JSON`);
  await refused(edited((m) => { m.coarse = 'bogus'; }), `${at} field coarse must be one of "mean", "maxsim", "student", got "bogus"`);
  const student = { file: 'student.safetensors', sha256: 'a'.repeat(64), bytes: 10, path: '/x', dim: 6, normalize: false };
  await refused(edited((m) => { m.student = student; }), `${at} field student must be absent unless coarse is 'student'`);
  await refused(edited((m) => { m.coarse = 'student'; }), `${at} field student must be an object`);
  await refused(edited((m) => { m.coarse = 'student'; m.student = { ...student, maxNorm: 3, file: '../secret.json' }; }), `${at} field student.file must be "student.safetensors", got "../secret.json"`);
  await refused(edited((m) => { m.coarse = 'student'; m.student = { ...student, maxNorm: 3, file: 'vocab.json' }; }), `${at} field student.file must be "student.safetensors", got "vocab.json"`);
  await refused(edited((m) => { m.coarse = 'student'; m.student = { ...student, maxNorm: 3, dim: 0 }; }), `${at} field student.dim must be a positive integer, got 0`);
  await refused(edited((m) => { m.coarse = 'student'; m.student = { ...student, extra: 1 }; }), `${at} field student has an unknown field "extra"`);
  await refused(edited((m) => { m.coarse = 'student'; m.student = student; }), `${at} field student.maxNorm must be a positive number, got nothing`);
  await refused(edited((m) => { m.coarse = 'student'; m.student = { ...student, maxNorm: 0 }; }), `${at} field student.maxNorm must be a positive number, got 0`);
  await refused(edited((m) => { m.coarse = 'student'; m.student = { ...student, normalize: true, maxNorm: 2 }; }), `${at} field student.maxNorm must be absent for a cosine student, got 2`);
  await refused(edited((m) => { m.complete = 'yes'; }), `${at} field complete must be true or false, got "yes"`);
  await refused(edited((m) => { m.ann = { kind: 'hnsw' }; }), `${at} field ann.kind must be one of "ivf_pq", "flat", got "hnsw"`);
  await refused(edited((m) => { m.ann = { kind: 'ivf_pq', partitions: 0, subVectors: 4 }; }), `${at} field ann.partitions must be a positive integer, got 0`);
  await refused(edited((m) => { m.rows = -1; }), `${at} field rows must be an integer >= 0, got -1`);
  await refused(edited((m) => { m.rows = 7; }), `${at} field rows must be data.images (300) in a complete index, got 7`);
  await refused(edited((m) => { m.data.regions = 2.5; }), `${at} field data.regions must be a positive integer, got 2.5`);
  await refused(edited((m) => { m.embedSize = 8; }), `${at} field embedSize must be checkpoint.config.embedSize (16), got 8`);
  await refused(edited((m) => { m.checkpoint.sha256 = 'abc'; }), `${at} field checkpoint.sha256 must be 64 lowercase hex digits (a sha256), got "abc"`);
  await refused(edited((m) => { m.checkpoint.config.textEncoder = 'bert'; }), `${at} field checkpoint.config.textEncoder must be one of "basic", "glove", got "bert"`);
  await refused(edited((m) => { m.data.split = 5; }), `${at} field data.split must be a non-empty string, got 5`);
  await refused(edited((m) => { m.coarce = 'mean'; }), `${at} has an unknown field "coarce"`);
  await refused(edited((m) => { m.tableId = 'x'.repeat(500); }), `${at} field tableId must be a UUID (version 2 manifests carry one), got "${'x'.repeat(59)}…`);
});

it('confines the vocabulary to the index folder and takes the table only where the build records it', async () => {
  const at = `search index ${out}: naaf-index.json`;
  for (const vocab of ['../../../etc/passwd', '../secret.json', secret, '/etc/passwd', 'a/../../secret.json', '..\\secret.json']) {
    await refused(edited((m) => { m.vocab = vocab; }), `${at} field vocab must be a relative path inside the index folder, got ${JSON.stringify(vocab)}`);
  }
  // A symlink out of the folder: resolved and refused, for the vocabulary and for the manifest itself.
  symlinkSync(secret, join(out, 'link.json'));
  await refused(edited((m) => { m.vocab = 'link.json'; }), `search: the index ${out}: vocab "link.json" resolves outside ${out} (a symlink out of the index folder); refused`);
  const manifest = edited(() => {});
  unlinkSync(manifestPath);
  symlinkSync(secret, manifestPath);
  await expect(SearchIndex.open(engine, out, gallery.checkpoint)).rejects.toThrow(`search index ${out}: the manifest "naaf-index.json" resolves outside ${out} (a symlink out of the index folder); refused`);
  unlinkSync(manifestPath);
  for (const [table, expected] of [['../elsewhere', "'lance', an absolute local path"], ['tables/a', "'lance', an absolute local path"], ['/data/../etc', "'lance', an absolute local path"],
    ['ftp://host/x', 'a URI of a known scheme (s3://, s3+ddb://, gs://, az://, abfss://, file://)']]) {
    await refused(edited((m) => { m.table = table; }), `${at} field table must be ${expected}`);
  }
  writeFileSync(manifestPath, manifest);
  (await SearchIndex.open(engine, out, gallery.checkpoint)).close();
});

it('a build never writes through a symlinked vocabulary out of the folder', async () => {
  const partial = join(root, 'partial');
  await buildIndex(engine, { data: gallery.data, split: 'test', checkpoint: gallery.checkpoint, out: partial, batchSize: 100, ann: 'flat', shouldStop: () => true });
  unlinkSync(join(partial, 'vocab.json'));
  symlinkSync(secret, join(partial, 'vocab.json'));
  await expect(buildIndex(engine, { data: gallery.data, split: 'test', checkpoint: gallery.checkpoint, out: partial, ann: 'flat' })).rejects.toThrow('vocab "vocab.json" resolves outside');
  expect(readFileSync(secret, 'utf8')).toBe(`${SECRET}\n`);
});

it('a wrong embedSize is named with both numbers before LanceDB sees it: against the checkpoint and against the table', async () => {
  // The manifest's own two agree, the checkpoint's model says otherwise.
  await refused(edited((m) => { m.embedSize = 8; m.checkpoint.config.embedSize = 8; }),
    `search: the index ${out} says embedSize 8, but the checkpoint's model has embedSize 16`);
  writeFileSync(manifestPath, JSON.stringify(good));
  // A table of 8-wide vectors where a 16-wide one is recorded.
  const lance = await loadLance();
  const other = join(root, 'narrow');
  const db = await connectTable('test', lance, join(other, 'lance'));
  (await db.createEmptyTable(TABLE, imageSchema(lance, 8, good.tableId), { mode: 'create' })).close();
  db.close();
  writeFileSync(join(other, 'naaf-index.json'), JSON.stringify(good));
  copyFileSync(join(out, 'vocab.json'), join(other, 'vocab.json'));
  await expect(SearchIndex.open(engine, other, gallery.checkpoint)).rejects.toThrow(`the table's coarse vectors have 8 dimensions, but its manifest says embedSize 16; rebuild the index`);
});

it("wraps LanceDB's errors: what we were doing, where, and its first line without Rust source paths", async () => {
  const raw = 'lance error: Unprocessable: KMeans cannot train 2 centroids with 1 vectors; choose a smaller K (< 1), /usr/local/cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lance-index-8.0.0/src/vector/kmeans.rs:1493:20'
    + '  Caused by: Unprocessable: KMeans cannot train 2 centroids, /home/ci/lance/src/x.rs:12:3\nsecond line';
  expect(lanceCause(new Error(raw))).toBe('lance error: Unprocessable: KMeans cannot train 2 centroids with 1 vectors; choose a smaller K (< 1)');
  const lance = await loadLance();
  const db = await connectTable('test', lance, join(out, 'lance'));
  const table = await db.openTable(TABLE);
  try {
    const error = await lanceCall(`search: cannot read the table at ${join(out, 'lance')}`, () => table.query().where('nope > 1').toArray()).then(() => null, (e: Error) => e);
    expect(error!.message).toMatch(new RegExp(`^search: cannot read the table at ${join(out, 'lance')}: .*No field named nope`));
    expect(error!.message).not.toMatch(/\.rs:\d+|Caused by/);
    expect((error!.cause as Error).message).toMatch(/\.rs:\d+/); // the original, kept
    await expect(checkTableWidth(table, 'here', 12, 'the test')).rejects.toThrow("here: the table's coarse vectors have 16 dimensions, but the test says embedSize 12");
  } finally {
    table.close();
    db.close();
  }
});

describe('the automatic ANN choice', () => {
  it('counts coarse vectors: R regions an image for MaxSim, one for the mean', async () => {
    const { autoUsesAnn } = await import('../../src/search/build.js');
    expect([autoUsesAnn('maxsim', 409, 10), autoUsesAnn('maxsim', 410, 10), autoUsesAnn('maxsim', 114, 36)]).toEqual([false, true, true]);
    expect([autoUsesAnn('mean', 4095, 36), autoUsesAnn('mean', 4096, 36)]).toEqual([false, true]);
  });
});
