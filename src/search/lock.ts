// One writer per index folder: INDEX/naaf-index.lock, created atomically ('wx'), holds the
// writer's pid, host and start time. Two builds appending to one table would double its rows, so
// a second build refuses at once. A lock left by a dead process on this host (kill -9, a crash)
// is taken over; one from another host is never (its pid means nothing here). Held locks are
// also removed on process.exit, so a Ctrl-C that exits at once leaves none behind.
import { hostname } from 'node:os';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK = 'naaf-index.lock';

export interface LockHolder { pid: number; host: string; startedAt: string }

export interface IndexLock {
  readonly path: string;
  /** Removes the lock if it is still ours; safe to call twice. */
  release(): Promise<void>;
}

const held = new Map<string, string>(); // lock path -> the text we wrote
let exitHookInstalled = false;

function releaseAllSync(): void {
  for (const [path, text] of held) {
    try {
      if (readFileSync(path, 'utf8') === text) unlinkSync(path);
    } catch {
      // Already gone (the folder was removed, or the lock was deleted by hand).
    }
  }
  held.clear();
}

/** The holder recorded in a lock's text, or null when it is not one of ours (then it is never taken over). */
export function parseHolder(text: string): LockHolder | null {
  try {
    const data = JSON.parse(text) as Partial<LockHolder> | null;
    if (data && Number.isInteger(data.pid) && data.pid! > 0 && typeof data.host === 'string' && typeof data.startedAt === 'string') {
      return { pid: data.pid!, host: data.host, startedAt: data.startedAt };
    }
  } catch {
    // Not JSON: reported below as unreadable.
  }
  return null;
}

/** Whether process `pid` exists on this host (EPERM: it does, it is another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The running build holding `dir`'s lock, or null when there is none (or only a stale one). */
export async function lockHolder(dir: string): Promise<LockHolder | null> {
  const text = await readFile(join(dir, LOCK), 'utf8').catch(() => null);
  if (text === null) return null;
  const holder = parseHolder(text);
  if (holder && holder.host === hostname() && !processAlive(holder.pid)) return null;
  return holder ?? { pid: 0, host: 'unknown', startedAt: 'unknown' };
}

function describe(holder: LockHolder): string {
  return `pid ${holder.pid} on host ${JSON.stringify(holder.host).slice(0, 80)}, started ${holder.startedAt.slice(0, 40)}`;
}

/**
 * Takes the write lock of the index folder `dir` (which must exist), or throws naming the
 * holder. `what` prefixes errors; `log` hears about a stale lock taken over.
 */
export async function acquireIndexLock(dir: string, what: string, log?: (line: string) => void): Promise<IndexLock> {
  const path = join(dir, LOCK);
  const text = `${JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() })}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(text);
      } finally {
        await handle.close();
      }
      held.set(path, text);
      if (!exitHookInstalled) {
        process.on('exit', releaseAllSync);
        exitHookInstalled = true;
      }
      return {
        path,
        async release() {
          if (held.get(path) !== text) return;
          held.delete(path);
          const now = await readFile(path, 'utf8').catch(() => null);
          if (now === text) await unlink(path).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${what}: cannot create the lock ${path}: ${(error as Error).message}`);
    }
    const existing = await readFile(path, 'utf8').catch(() => null);
    if (existing === null) continue; // released meanwhile: try again
    const holder = parseHolder(existing);
    const remove = `if you are sure no build of it is running, delete ${path}`;
    if (!holder) throw new Error(`${what}: ${dir} is locked by ${path}, which is not a lock this program wrote; ${remove}`);
    if (holder.host !== hostname()) {
      throw new Error(`${what}: ${dir} is being written by another build (${describe(holder)}; this is host ${JSON.stringify(hostname())}, so whether it still runs cannot be checked here); `
        + `wait for it, or ${remove}`);
    }
    if (processAlive(holder.pid)) {
      throw new Error(`${what}: ${dir} is being written by another build (${describe(holder)}); wait for it to finish, or stop it (its committed batches are kept)`);
    }
    // Stale: moved aside (atomic, so of two takers only one gets it) and checked to be the stale
    // one before it is deleted; a fresh lock moved by mistake is put back.
    const aside = `${path}.stale-${process.pid}`;
    try {
      await rename(path, aside);
    } catch {
      continue;
    }
    const moved = await readFile(aside, 'utf8').catch(() => null);
    if (moved !== existing) {
      await link(aside, path).catch(() => {});
      await unlink(aside).catch(() => {});
      continue;
    }
    await unlink(aside);
    log?.(`${dir}: took over the lock of a build that is no longer running (${describe(holder)})`);
  }
  throw new Error(`${what}: cannot take the lock ${path}: other builds keep taking it; try again`);
}
