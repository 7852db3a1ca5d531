// Files of an index named by its manifest (the vocabulary, the manifest itself) are read only
// from inside the index folder, symlinks resolved: an edited manifest must not make `naaf search`
// read, or `naaf index` write, a file elsewhere. Read errors never carry the file's bytes.
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { isInsidePath, shown } from './manifestSchema.js';

/** Our message, with the system error's code kept (callers tell ENOENT apart) but not its text. */
const coded = (message: string, error: NodeJS.ErrnoException) => Object.assign(new Error(message), { code: error.code });
const within = (root: string, path: string) => path === root || path.startsWith(root + sep);

/**
 * The real path of `relative` (a manifest's `field`) under the folder `dir`, or an error when it
 * leaves it. A file that does not exist yet resolves through its real parent folder.
 */
export async function confinedPath(dir: string, relative: string, what: string, field: string): Promise<string> {
  if (!isInsidePath(relative)) throw new Error(`${what}: ${field} must be a relative path inside ${dir}, got ${shown(relative)}`);
  const root = await realpath(dir);
  const path = join(root, relative);
  const real = await realpath(path).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw coded(`${what}: cannot resolve ${field} ${shown(relative)} in ${dir} (${error.code ?? 'error'})`, error);
    const parent = await realpath(dirname(path)).catch((inner: NodeJS.ErrnoException) => {
      throw coded(`${what}: ${field} ${shown(relative)}: its folder does not exist in ${dir}`, inner);
    });
    return join(parent, basename(path));
  });
  if (!within(root, real)) throw new Error(`${what}: ${field} ${shown(relative)} resolves outside ${dir} (a symlink out of the index folder); refused`);
  return real;
}

/**
 * The bytes of `relative` under `dir`, confined as above and at most `maxBytes` (an index file is
 * small: a device or a huge file in its place is refused before it is read).
 */
export async function readConfinedBytes(dir: string, relative: string, what: string, field: string, maxBytes: number): Promise<Uint8Array> {
  const path = await confinedPath(dir, relative, what, field);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw coded(`${what}: cannot read ${field} ${shown(relative)} in ${dir} (${error.code ?? 'error'})`, error);
  });
  if (!info.isFile()) throw new Error(`${what}: ${field} ${shown(relative)} in ${dir} is not a file`);
  if (info.size > maxBytes) throw new Error(`${what}: ${field} ${shown(relative)} in ${dir} is ${info.size} bytes, more than an index file's ${maxBytes}`);
  return readFile(path).catch((error: NodeJS.ErrnoException) => {
    throw coded(`${what}: cannot read ${field} ${shown(relative)} in ${dir} (${error.code ?? 'error'})`, error);
  });
}

/** The text of `relative` under `dir`, as readConfinedBytes reads it. */
export async function readConfined(dir: string, relative: string, what: string, field: string, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readConfinedBytes(dir, relative, what, field, maxBytes));
}
