// Writes report/live/: the live search page, its script, the browser bundle, the trained
// checkpoints and the test split (features, captions, vocabulary, scenes and foils). Built in a
// temporary folder beside it and swapped in with renames, so a server never sees half a page.
import { platform } from '../platform/index.js';
import { readScenes } from '../scenes/write.js';
import { LIVE_FORMAT, LIVE_VERSION, type LiveManifest, type LiveMethod, type LiveScenes } from './manifest.js';
import { renderLivePage } from './page.js';

export interface LivePageOptions {
  /** The scenes folder (test_ims.npy, test_caps.txt, the vocabulary, scenes.json). */
  data: string;
  /** The vocabulary file within or beside `data` the models were trained with. */
  vocab: string;
  models: { method: LiveMethod; label: string; checkpoint: string }[];
  title?: string;
  /** The built browser bundle and page script (default: dist/browser.js and dist/live/app.js beside this code). */
  assets?: { bundle: string; app: string };
}

async function defaultAssets(): Promise<{ bundle: string; app: string }> {
  const { access } = await platform.fs('writeLivePage');
  // From dist/cli.js the bundle is beside it; from the sources (tests), in ../../dist.
  for (const base of ['./', '../../dist/']) {
    const bundle = new URL(`${base}browser.js`, import.meta.url);
    const app = new URL(`${base}live/app.js`, import.meta.url);
    try {
      await access(bundle);
      await access(app);
      const { fileURLToPath } = await import('node:url');
      return { bundle: fileURLToPath(bundle), app: fileURLToPath(app) };
    } catch {
      // try the next place
    }
  }
  throw new Error('writeLivePage: dist/browser.js and dist/live/app.js are missing: run `npm run build`');
}

/** Writes `<reportDir>/live/` and returns its path. */
export async function writeLivePage(reportDir: string, o: LivePageOptions): Promise<string> {
  const fs = await platform.fs('writeLivePage');
  const { join, resolve, basename } = await platform.path('writeLivePage');
  if (o.models.length === 0) throw new Error('writeLivePage: models: expected at least one model, got none');
  const methods = o.models.map((m) => m.method);
  if (new Set(methods).size !== methods.length) throw new Error(`writeLivePage: models: expected one model per method, got ${methods.join(', ')}`);
  const assets = o.assets ?? (await defaultAssets());
  const root = resolve(reportDir);
  const target = join(root, 'live');
  const temp = join(root, `.live.${platform.tempSuffix()}.tmp`);
  const old = join(root, `.live.${platform.tempSuffix()}.old`);
  await fs.mkdir(temp, { recursive: true });
  try {
    const copy = async (from: string, name: string) => {
      await fs.copyFile(from, join(temp, name));
      return (await fs.stat(join(temp, name))).size;
    };
    await copy(assets.bundle, 'naaf-webgpu.js');
    await copy(assets.app, 'app.js');
    const models: LiveManifest['models'] = [];
    for (const m of o.models) {
      const file = `${m.method}.safetensors`;
      models.push({ method: m.method, label: m.label, file, bytes: await copy(m.checkpoint, file) });
    }
    await copy(join(o.data, 'test_ims.npy'), 'test_ims.npy');
    await copy(join(o.data, 'test_caps.txt'), 'test_caps.txt');
    await copy(o.vocab, 'vocab.json');
    const scenes = await readScenes(o.data);
    const live: LiveScenes = { test: scenes.splits.test, foils: scenes.foils };
    await fs.writeFile(join(temp, 'scenes.json'), JSON.stringify(live));
    const title = o.title ?? 'NAAF vs SCAN: live search';
    const manifest: LiveManifest = {
      format: LIVE_FORMAT, version: LIVE_VERSION, title, models,
      images: { file: 'test_ims.npy', count: scenes.splits.test.length }, captions: 'test_caps.txt', vocab: 'vocab.json', scenes: 'scenes.json',
    };
    await fs.writeFile(join(temp, 'live.json'), JSON.stringify(manifest, null, 1));
    await fs.writeFile(join(temp, 'index.html'), renderLivePage(title));
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    throw new Error(`writeLivePage: cannot write ${target} (${basename(temp)} removed): ${(error as Error).message}`);
  }
  // Swap: the old folder aside, the new one in (the old one back if that fails), the old one removed.
  let moved = false;
  try {
    await fs.rename(target, old);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      await fs.rm(temp, { recursive: true, force: true });
      throw new Error(`writeLivePage: cannot replace ${target}: ${(error as Error).message}`);
    }
  }
  try {
    await fs.rename(temp, target);
  } catch (error) {
    if (moved) await fs.rename(old, target).catch(() => {});
    await fs.rm(temp, { recursive: true, force: true });
    throw new Error(`writeLivePage: cannot replace ${target} (the previous page is kept): ${(error as Error).message}`);
  }
  if (moved) await fs.rm(old, { recursive: true, force: true }).catch(() => {}); // best effort: the new page is in place
  return target;
}
