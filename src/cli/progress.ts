// A one-line progress bar with ETA on a terminal; silent in pipes and CI logs.

export interface Progress {
  update(phase: string, done: number, total: number): void;
  done(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || process.env.CI) return { update() {}, done() {} };
  let phase = '';
  let started = 0;
  let drawn = false;
  return {
    update(nextPhase, done, total) {
      const now = performance.now();
      if (nextPhase !== phase) { phase = nextPhase; started = now; }
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const width = 30;
      const filled = Math.round(fraction * width);
      const elapsed = (now - started) / 1000;
      const eta = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : 0;
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      stream.write(`\r${phase.padEnd(16)} [${bar}] ${done}/${total} ${elapsed.toFixed(1)}s eta ${eta.toFixed(1)}s \x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
