// Ctrl-C for the long commands that save before they stop (naaf train, the main job): the first
// one asks the work to stop at its next safe point (it saves, then the command exits 130); a
// second one quits at once.

export interface StopRequest {
  /** Whether Ctrl-C was pressed (polled by the work). */
  readonly requested: () => boolean;
  /** Removes the handler (call in finally). */
  dispose(): void;
}

export function stopOnSigint(message: string): StopRequest {
  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    process.stderr.write(`\n${message}; Ctrl-C again to quit at once\n`);
  };
  process.on('SIGINT', onSigint);
  return { requested: () => stopRequested, dispose: () => process.off('SIGINT', onSigint) };
}
