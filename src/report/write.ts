// Writes the report page atomically (a temp file in the same directory, then rename), so a reader
// never sees a half-written index.html. Node only: fs is imported here, not at module load.
import { renderReport } from './html.js';
import type { ReportData } from './types.js';
import { platform } from '../platform/index.js';

/** Renders `data` to `<dir>/index.html` (creating dir) and returns that path. */
export async function writeReport(dir: string, data: ReportData): Promise<string> {
  const { mkdir, writeFile, rename, rm } = await platform.fs('writeReport');
  const { join, resolve } = await platform.path('writeReport');
  const html = renderReport(data);
  const target = resolve(dir);
  await mkdir(target, { recursive: true });
  const path = join(target, 'index.html');
  const temp = join(target, `.index.html.${platform.tempSuffix()}.tmp`);
  try {
    await writeFile(temp, html, 'utf8');
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return path;
}
