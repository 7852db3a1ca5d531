// The store behind `naaf-webgpu/search`: LanceDB (embedded; the same table can live on object
// storage), loaded only when a search index is built or opened, so the core engine and the
// browser bundle never need it. One table, `images`: id (Int32, the image's row in its split),
// coarse (FixedSizeList<Float32, E>: the mean of the image's region embeddings, normalised) and
// regions (List<FixedSizeList<Float32, E>>: every region embedding, for MaxSim and for the exact
// re-ranking). Arrow data must come from the apache-arrow instance LanceDB itself requires (its
// CommonJS build): the ESM build's classes differ and LanceDB rejects their tables.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { lanceCall, lanceCause } from './lanceErrors.js';

export const TABLE = 'images';
export const INSTALL = 'npm install -E @lancedb/lancedb@0.31.0 apache-arrow@18.1.0';

/** The parts of LanceDB's API used here. */
export interface LanceTable {
  add(data: unknown): Promise<unknown>;
  countRows(filter?: string): Promise<number>;
  createIndex(column: string, options: { config: unknown; name?: string; replace?: boolean }): Promise<void>;
  search(query: unknown): LanceQuery;
  query(): LanceQuery;
  schema(): Promise<{ metadata?: Map<string, string>; fields: { name: string; type: ArrowType }[] }>;
  close(): void;
}
export interface LanceQuery {
  column(name: string): LanceQuery;
  distanceType(type: string): LanceQuery;
  limit(k: number): LanceQuery;
  nprobes(n: number): LanceQuery;
  refineFactor(n: number): LanceQuery;
  where(predicate: string): LanceQuery;
  select(columns: string[]): LanceQuery;
  toArray(): Promise<Record<string, unknown>[]>;
  toArrow(): Promise<ArrowTable>;
}
interface ArrowType { listSize?: number; children?: { type: ArrowType }[] }
interface ArrowData { offset: number; length: number; valueOffsets: Int32Array; children: ArrowData[]; values: Float32Array }
interface ArrowTable { numRows: number; getChild(name: string): { toArray(): ArrayLike<number>; data: ArrowData[] } | null }
export interface LanceConnection {
  tableNames(): Promise<string[]>;
  openTable(name: string): Promise<LanceTable>;
  createEmptyTable(name: string, schema: unknown, options: { mode: 'create' | 'overwrite' }): Promise<LanceTable>;
  close(): void;
}
export interface Lance {
  connect(uri: string, options?: { storageOptions?: Record<string, string> }): Promise<LanceConnection>;
  Index: { ivfPq(options: Record<string, unknown>): unknown };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  arrow: any;
}

let loaded: Promise<Lance> | null = null;

/** LanceDB and its own apache-arrow, or an error saying how to install them. */
export function loadLance(): Promise<Lance> {
  loaded ??= (async () => {
    try {
      const require = createRequire(import.meta.url);
      const entry = require.resolve('@lancedb/lancedb');
      const lancedb = (await import('@lancedb/lancedb')) as unknown as Omit<Lance, 'arrow'>;
      const arrow = createRequire(entry)('apache-arrow');
      return { connect: lancedb.connect, Index: lancedb.Index, arrow };
    } catch (error) {
      loaded = null;
      throw new Error(`naaf-webgpu/search needs LanceDB, an optional peer dependency: ${INSTALL} (${(error as Error).message.split('\n')[0]})`);
    }
  })();
  return loaded;
}

/** Where an index's table lives when not said: the folder `lance` inside the index. */
export const DEFAULT_TABLE = 'lance';

/** True for a URI with a scheme (s3://, gs://, az://, ...), which LanceDB opens itself; a one-letter "scheme" is a Windows drive. */
export function isUri(location: string): boolean {
  return /^[a-z][a-z0-9+.-]+:\/\//i.test(location);
}

/** Schema metadata key of the index's random id: a table is only ever written or searched by its own index. */
export const TABLE_ID_KEY = 'naaf-index-id';

/** The LanceDB database of an index: a URI as is, a local path relative to the index folder. */
export function tableLocation(indexDir: string, table: string | undefined): string {
  const location = table ?? DEFAULT_TABLE;
  return isUri(location) ? location : resolve(indexDir, location);
}

/** Opens LanceDB at `location`, naming it in the error (a wrong bucket, missing credentials). */
export async function connectTable(what: string, lance: Lance, location: string, storageOptions?: Record<string, string>): Promise<LanceConnection> {
  try {
    return await lance.connect(location, storageOptions ? { storageOptions } : undefined);
  } catch (error) {
    throw new Error(`${what}: cannot open the LanceDB database at ${location}: ${lanceCause(error)}`
      + `${isUri(location) ? ' (object-storage credentials and endpoints come from the environment, e.g. AWS_ACCESS_KEY_ID, AWS_REGION, AWS_ENDPOINT, or from storageOptions)' : ''}`, { cause: error });
  }
}

/** The images table's schema; `tableId` (the manifest's) goes into its metadata; coarse vectors are `coarseDim` wide (a student's may differ from the regions'). */
export function imageSchema(lance: Lance, dim: number, tableId?: string, coarseDim = dim): unknown {
  const { arrow } = lance;
  const float = () => new arrow.Field('item', new arrow.Float32(), true);
  return new arrow.Schema([
    new arrow.Field('id', new arrow.Int32(), false),
    new arrow.Field('coarse', new arrow.FixedSizeList(coarseDim, float()), false),
    new arrow.Field('regions', new arrow.List(new arrow.Field('item', new arrow.FixedSizeList(dim, float()), true)), false),
  ], tableId ? new Map([[TABLE_ID_KEY, tableId]]) : undefined);
}

/** The id a table was created with (undefined for tables of version-1 indexes). */
export async function tableIdOf(table: LanceTable, where: string): Promise<string | undefined> {
  return (await lanceCall(`cannot read the schema of ${where}`, () => table.schema())).metadata?.get(TABLE_ID_KEY);
}

/**
 * Refuses a table whose vectors are not `embedSize` wide (its schema: coarse and the regions'
 * vectors): checked by us, so a wrong size is named instead of failing inside LanceDB's search.
 */
export async function checkTableWidth(table: LanceTable, where: string, embedSize: number, source: string, coarseDim = embedSize): Promise<void> {
  const { fields } = await lanceCall(`cannot read the schema of ${where}`, () => table.schema());
  const widthOf = (name: string) => {
    const type = fields.find((f) => f.name === name)?.type;
    return name === 'regions' ? type?.children?.[0]?.type.listSize : type?.listSize;
  };
  for (const column of ['coarse', 'regions']) {
    const width = widthOf(column);
    if (width === undefined) throw new Error(`${where}: the table has no vector column '${column}'; it is not a table of a search index`);
    const want = column === 'coarse' ? coarseDim : embedSize;
    if (width !== want) throw new Error(`${where}: the table's ${column} vectors have ${width} dimensions, but ${source} ${column === 'coarse' && coarseDim !== embedSize ? `gives a coarse width of ${want} (its student's column)` : `says embedSize ${want}`}; rebuild the index`);
  }
}

/** An Arrow table of n images from flat arrays (no per-row objects): ids [n], coarse [n, coarse width], regions [n, R, E]. */
export function imageBatch(lance: Lance, schema: unknown, ids: Int32Array, coarse: Float32Array, regions: Float32Array, R: number, dim: number): unknown {
  const { arrow } = lance;
  const n = ids.length;
  const [idField, coarseField, regionsField] = (schema as { fields: { type: { children: { type: unknown }[] } }[] }).fields as { type: any }[];
  const data = (o: Record<string, unknown>) => arrow.makeData(o);
  const idData = data({ type: idField!.type, length: n, data: ids });
  const coarseWidth = coarseField!.type.listSize as number;
  if (coarse.length !== n * coarseWidth) throw new Error(`imageBatch: coarse has ${coarse.length} values, expected ${n} images x ${coarseWidth}`);
  const coarseData = data({ type: coarseField!.type, length: n, nullCount: 0, child: data({ type: new arrow.Float32(), length: n * coarseWidth, data: coarse }) });
  const vectorType = regionsField!.type.children[0].type;
  const vectors = data({ type: vectorType, length: n * R, nullCount: 0, child: data({ type: new arrow.Float32(), length: n * R * dim, data: regions }) });
  const offsets = Int32Array.from({ length: n + 1 }, (_, i) => i * R);
  const regionsData = data({ type: regionsField!.type, length: n, nullCount: 0, valueOffsets: offsets, child: vectors });
  const rows = data({ type: new arrow.Struct((schema as { fields: unknown[] }).fields), length: n, nullCount: 0, children: [idData, coarseData, regionsData] });
  return new arrow.Table([new arrow.RecordBatch(schema, rows)]);
}

/**
 * Each row's id, in the table's order, with its region embeddings ([R, E] floats, copied) put
 * into `into`: the coarse search selects the regions with the ids, so the exact stage needs no
 * second read of the table.
 */
export function rowsWithRegions(result: ArrowTable, R: number, dim: number, into: Map<number, Float32Array>): number[] {
  const idColumn = result.getChild('id')!.toArray();
  const regionColumn = result.getChild('regions')!;
  const ids: number[] = [];
  let row = 0;
  for (const chunk of regionColumn.data) {
    // List<FixedSizeList<Float32>>: the list offsets count vectors of the vectors child, whose
    // Float32 child holds the floats. Arrow JS slices buffers themselves (a sliced List's
    // offsets start at its first row; its child is not sliced), so no `offset` is added.
    const floats = chunk.children[0]!.children[0]!;
    for (let i = 0; i < chunk.length; i++, row++) {
      const id = idColumn[row]!;
      const first = chunk.valueOffsets[i]!;
      const count = chunk.valueOffsets[i + 1]! - first;
      if (count !== R) throw new Error(`search: the index's row for image ${id} has ${count} regions, expected ${R}`);
      if (!into.has(id)) into.set(id, floats.values.slice(first * dim, (first + R) * dim));
      ids.push(id);
    }
  }
  return ids;
}

/** The region embeddings of `ids` by id (a filtered read of the table); every id must be there. */
export async function fetchRegions(table: LanceTable, ids: readonly number[], R: number, dim: number, where = 'the index table'): Promise<Map<number, Float32Array>> {
  const found = new Map<number, Float32Array>();
  if (ids.length === 0) return found;
  const result = await lanceCall(`search: cannot read the regions of ${ids.length} images from ${where}`,
    () => table.query().where(`id IN (${ids.join(',')})`).select(['id', 'regions']).toArrow());
  const wanted = new Set(ids);
  const stranger = rowsWithRegions(result, R, dim, found).find((id) => !wanted.has(id));
  if (stranger !== undefined) throw new Error(`search: the index returned image ${stranger}, which was not asked for`);
  if (found.size !== wanted.size) {
    const missing = ids.filter((id) => !found.has(id));
    throw new Error(`search: the index lacks image ids ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
  }
  return found;
}

/** The region embeddings of images [start, start + count) in id order, [count, R, E] (a range read of the table). */
export async function fetchRegionRange(table: LanceTable, start: number, count: number, R: number, dim: number, where = 'the index table'): Promise<Float32Array> {
  const found = new Map<number, Float32Array>();
  const result = await lanceCall(`search: cannot read the regions of images ${start}..${start + count - 1} from ${where}`,
    () => table.query().where(`id >= ${start} AND id < ${start + count}`).select(['id', 'regions']).toArrow());
  rowsWithRegions(result, R, dim, found);
  const out = new Float32Array(count * R * dim);
  for (let i = 0; i < count; i++) {
    const regions = found.get(start + i);
    if (!regions) throw new Error(`search: the index lacks image id ${start + i}`);
    out.set(regions, i * R * dim);
  }
  return out;
}

/** Each row's id and coarse vector, in the table's order: ids [rows] and vectors [rows, dim] (copied). */
export function coarseRows(result: ArrowTable, dim: number): { ids: number[]; vectors: Float32Array } {
  const ids = Array.from(result.getChild('id')!.toArray());
  const vectors = new Float32Array(ids.length * dim);
  let row = 0;
  for (const chunk of result.getChild('coarse')!.data) {
    // FixedSizeList<Float32>: Arrow JS slices the child's buffer with the list (as for the
    // regions above), so its values start at the chunk's first row.
    const floats = chunk.children[0]!.values;
    vectors.set(floats.subarray(0, chunk.length * dim), row * dim);
    row += chunk.length;
  }
  if (row !== ids.length) throw new Error(`search: the index returned ${ids.length} ids but ${row} coarse vectors`);
  return { ids, vectors };
}

/** The coarse vectors of images [start, start + count) in id order, [count, dim] (a range read of the table). */
export async function fetchCoarseRange(table: LanceTable, start: number, count: number, dim: number, where = 'the index table'): Promise<Float32Array> {
  const result = await lanceCall(`search: cannot read the coarse vectors of images ${start}..${start + count - 1} from ${where}`,
    () => table.query().where(`id >= ${start} AND id < ${start + count}`).select(['id', 'coarse']).toArrow());
  const { ids, vectors } = coarseRows(result, dim);
  const out = new Float32Array(count * dim);
  const seen = new Uint8Array(count);
  ids.forEach((id, row) => {
    const at = id - start;
    if (!(at >= 0 && at < count) || seen[at]) throw new Error(`search: the index returned image ${id} twice or outside ${start}..${start + count - 1}`);
    seen[at] = 1;
    out.set(vectors.subarray(row * dim, (row + 1) * dim), at * dim);
  });
  const missing = seen.indexOf(0);
  if (missing >= 0) throw new Error(`search: the index lacks image id ${start + missing}`);
  return out;
}
