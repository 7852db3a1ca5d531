// One writer per index folder, and Ctrl-C: two builds of one folder at once (API and two `naaf
// index` processes) leave one build and N rows, never 2N; a stale lock (dead pid, this host) is
// taken over, another host's never; `naaf search` names a running build; Ctrl-C during the ANN
// build exits 130 at once, leaves the index incomplete and unlocked, and a rerun completes it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIndex, SearchIndex } from '../../src/search/index.js';
import { LOCK } from '../../src/search/lock.js';
import { readManifest } from '../../src/search/manifest.js';
import { sharedEngine } from '../gpu.js';
import { writeGallery, type Gallery } from './fixture.js';

const engine = await sharedEngine();
const root = mkdtempSync(join(tmpdir(), 'naaf-writers-'));
// 1500 images: LanceDB's IVF_PQ build takes about a second here, long enough to press Ctrl-C in.
const N = 1500;
let gallery: Gallery;
const build = (out: string, more: Partial<Parameters<typeof buildIndex>[1]> = {}) =>
  buildIndex(engine, { data: gallery.data, split: 'test', checkpoint: gallery.checkpoint, out, batchSize: 750, ann: 'flat', ...more });
const lockText = (pid: number, host = hostname()) => JSON.stringify({ pid, host, startedAt: '2026-12-01T10:00:00.000Z' });

beforeAll(async () => {
  gallery = await writeGallery(root, N);
});

describe('one build per index folder', () => {
  it('two builds at once: one is refused naming the holder, the index has N rows and is searchable', async () => {
    const out = join(root, 'twice');
    const results = await Promise.allSettled([build(out), build(out)]);
    const refused = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason.message).toMatch(new RegExp(`${out} is being written by another build \\(pid ${process.pid} on host .*, started .*\\); wait for it`));
    expect(existsSync(join(out, LOCK))).toBe(false);
    const index = await SearchIndex.open(engine, out, gallery.checkpoint); // refuses a table whose rows differ from the manifest's
    expect(index.size).toBe(N);
    index.close();
    // Released on an error too.
    await expect(build(out, { checkpoint: gallery.other })).rejects.toThrow(/is an index of another checkpoint/);
    expect(existsSync(join(out, LOCK))).toBe(false);
  });

  it("takes over a dead build's lock on this host, never another host's (also with --table elsewhere)", async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const out = join(root, 'stale');
    mkdirSync(out);
    writeFileSync(join(out, LOCK), lockText(dead));
    const log: string[] = [];
    expect((await build(out, { log: (line) => log.push(line) })).manifest.complete).toBe(true);
    expect(log).toContain(`${out}: took over the lock of a build that is no longer running (pid ${dead} on host ${JSON.stringify(hostname())}, started 2026-12-01T10:00:00.000Z)`);
    expect(existsSync(join(out, LOCK))).toBe(false);

    const away = join(root, 'away');
    mkdirSync(away);
    writeFileSync(join(away, LOCK), lockText(dead, 'elsewhere'));
    await expect(build(away, { table: join(root, 'away-table') })).rejects.toThrow(
      `naaf index: ${away} is being written by another build (pid ${dead} on host "elsewhere", started 2026-12-01T10:00:00.000Z; this is host ${JSON.stringify(hostname())}, `
      + `so whether it still runs cannot be checked here); wait for it, or if you are sure no build of it is running, delete ${join(away, LOCK)}`);
    expect(readFileSync(join(away, LOCK), 'utf8')).toBe(lockText(dead, 'elsewhere'));
    expect(existsSync(join(root, 'away-table'))).toBe(false);
  });

  it('search names a build in progress, and still calls an unlocked incomplete index interrupted', async () => {
    const out = join(root, 'partial');
    expect((await build(out, { shouldStop: () => true })).stopped).toBe(true);
    writeFileSync(join(out, LOCK), lockText(process.pid));
    await expect(SearchIndex.open(engine, out, gallery.checkpoint)).rejects.toThrow(`search: the index ${out} is incomplete: it is being built right now (pid ${process.pid}`);
    writeFileSync(join(out, LOCK), lockText(spawnSync(process.execPath, ['-e', '']).pid!));
    await expect(SearchIndex.open(engine, out, gallery.checkpoint)).rejects.toThrow(/is incomplete \(its build was interrupted\); rerun/);
  });
});

describe('stopping during the ANN build', () => {
  it('the API stops waiting at once and keeps the lock until LanceDB is done (the CLI test below resumes such an index)', async () => {
    const out = join(root, 'abort');
    const stop = new AbortController();
    const result = await build(out, { ann: 'ivf_pq', signal: stop.signal, log: (line) => { if (line.startsWith('building the IVF_PQ')) stop.abort(); } });
    expect(result).toMatchObject({ stopped: true, stoppedIn: 'ann' });
    expect((await readManifest(out))!.complete).toBe(false);
    expect(existsSync(join(out, LOCK))).toBe(true);
    await result.settled;
    expect(existsSync(join(out, LOCK))).toBe(false);
  });

  it('`naaf index`: a second process is refused; Ctrl-C in the ANN build exits 130 promptly, unlocked and resumable', async () => {
    const cli = resolve(__dirname, '../../dist/cli.js');
    if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does)');
    const out = join(root, 'cli');
    const args = [cli, 'index', '--data', gallery.data, '--split', 'test', '--checkpoint', gallery.checkpoint, '--out', out, '--ann', 'ivf_pq', '--batch-size', '500'];
    const run = () => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const output = { stdout: '', stderr: '' };
      child.stdout.on('data', (chunk) => { output.stdout += chunk; });
      child.stderr.on('data', (chunk) => { output.stderr += chunk; });
      const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
      return { child, output, exited };
    };
    const [a, b] = [run(), run()];
    // The one that got the lock is the one that reaches the ANN build; Ctrl-C it there.
    let signalled = 0;
    const poll = setInterval(() => {
      for (const p of [a, b]) {
        if (!signalled && p.output.stdout.includes('building the IVF_PQ index')) {
          signalled = performance.now();
          p.child.kill('SIGINT');
        }
      }
    }, 5);
    const codes = await Promise.all([a.exited, b.exited]);
    const exitedMs = performance.now() - signalled;
    clearInterval(poll);
    const winner = a.output.stdout.includes('building the IVF_PQ index') ? a : b;
    const loser = winner === a ? b : a;
    expect(codes.sort()).toEqual([1, 130]);
    expect(loser.output.stderr).toContain(`naaf index: ${out} is being written by another build (pid ${winner.child.pid} on host`);
    expect(winner.output.stderr).toContain('stopping: the batch being written is committed first; an ANN index build in progress is abandoned');
    expect(winner.output.stdout).toContain(`stopped before the ANN index was complete: every image is kept; ${out} is incomplete: run the same command again`);
    expect(exitedMs).toBeLessThan(1000); // LanceDB's build alone takes about as long: it was not waited for
    expect(existsSync(join(out, LOCK))).toBe(false);
    expect((await readManifest(out))!.complete).toBe(false);
    // Resumed (here by the API): the ANN step is redone, the rows are the split's, once.
    const resumed = await build(out, { ann: 'ivf_pq', batchSize: 500 });
    expect(resumed).toMatchObject({ resumedFrom: N, manifest: { complete: true, rows: N, ann: { kind: 'ivf_pq' } } });
    const index = await SearchIndex.open(engine, out, gallery.checkpoint);
    expect(index.size).toBe(N);
    index.close();
  });
});
