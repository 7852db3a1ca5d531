// `naaf serve DIR`: serves the report folder on localhost, where the live search page (DIR/live/)
// can use WebGPU (navigator.gpu exists only in secure contexts, and http://localhost is one).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createStaticServer, listen } from '../serve/static.js';

export const SERVE_USAGE = `naaf serve [DIR=report] [--port 8080] [--host 127.0.0.1]
  Serves DIR (the report of \`npm start\`) on localhost; open http://localhost:PORT/live/ for the live search page.`;

export async function runServe(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' } },
  });
  if (positionals.length > 1) throw new Error(`naaf serve: expected one folder, got ${positionals.length} (${positionals.join(' ')})\n${SERVE_USAGE}`);
  const dir = positionals[0] ?? 'report';
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`naaf serve: --port must be an integer in 0..65535, got ${values.port}`);
  const server = await createStaticServer(dir);
  const bound = await listen(server, port, values.host!);
  server.on('error', (error) => console.error(`serve: ${error.message}`)); // keep serving
  const host = values.host === '127.0.0.1' || values.host === '::1' || values.host === 'localhost' ? 'localhost'
    : values.host!.includes(':') ? `[${values.host}]` : values.host;
  console.log(`serving ${dir} on http://${host}:${bound}/`);
  if (existsSync(join(dir, 'live', 'index.html'))) console.log(`live search: http://${host}:${bound}/live/`);
  else console.log(`(no ${join(dir, 'live')}: \`npm start\` writes the live search page there)`);
  if (host !== 'localhost') console.log('note: browsers expose WebGPU only to secure contexts (https or http://localhost)');
  console.log('Ctrl-C stops it.');
  await new Promise<void>((done) => {
    // Stopped by a signal: exit as the shell expects of one (130 for Ctrl-C, 143 for SIGTERM), like every long command.
    const stop = (code: number) => () => {
      process.exitCode = code;
      server.closeAllConnections();
      server.close(() => done());
    };
    process.once('SIGINT', stop(130));
    process.once('SIGTERM', stop(143));
  });
}
