// Writes the report page atomically (writeFileAtomic: a temp file beside it, then a rename), so a reader
// never sees a half-written index.html. Node only: fs is imported here, not at module load.
import { renderReport } from './html.js';
import type { ReportData } from './types.js';
import { writeFileAtomic } from '../model/load.js';
import { platform } from '../platform/index.js';

/** Renders `data` to `<dir>/index.html` (creating dir) and returns that path. */
export async function writeReport(dir: string, data: ReportData): Promise<string> {
  const { mkdir } = await platform.fs('writeReport');
  const { join, resolve } = await platform.path('writeReport');
  const html = renderReport(data);
  const target = resolve(dir);
  await mkdir(target, { recursive: true });
  const path = join(target, 'index.html');
  await writeFileAtomic(path, new TextEncoder().encode(html));
  return path;
}
