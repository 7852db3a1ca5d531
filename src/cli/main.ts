// The `naaf` command line.
import { CONVERT_USAGE, runConvert } from './convert.js';
import { EVAL_USAGE, runEval } from './eval.js';
import { DEMO_USAGE, runDemoCommand } from './demo.js';
import { SCENES_USAGE, runScenes } from './scenes.js';
import { SERVE_USAGE, runServe } from './serve.js';
import { INDEX_USAGE, runIndex } from './index.js';
import { SEARCH_USAGE, runSearch } from './search.js';
import { TRAIN_USAGE, runTrain } from './train.js';

const USAGE = `usage:
  ${EVAL_USAGE}
  ${CONVERT_USAGE}
  ${TRAIN_USAGE}
  ${SCENES_USAGE}
  ${DEMO_USAGE}
  ${SERVE_USAGE}
  ${INDEX_USAGE}
  ${SEARCH_USAGE}`;

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = { eval: runEval, convert: runConvert, train: runTrain, scenes: runScenes, demo: runDemoCommand, serve: runServe, index: runIndex, search: runSearch };

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return;
  }
  const run = COMMANDS[command];
  if (!run) throw new Error(`naaf: unknown command "${command}"\n${USAGE}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(USAGE);
    return;
  }
  await run(rest);
}

process.env.XDG_RUNTIME_DIR ??= '/tmp';
main(process.argv.slice(2)).catch((error: Error) => {
  console.error(error.message);
  process.exitCode = 1;
});
