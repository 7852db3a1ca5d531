// Numeric command-line flags, checked the same way by every command: a flag that is given must
// parse whole (no '', no '12abc'), be finite, and lie in its range, or the command refuses to start.

export function integerFlag(command: string, name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`${command}: --${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A finite number; `positive`: > 0. */
export function numberFlag(command: string, name: string, value: string | undefined, positive = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (positive && n <= 0)) {
    throw new Error(`${command}: --${name} must be a ${positive ? 'finite number > 0' : 'finite number'}, got ${JSON.stringify(value)}`);
  }
  return n;
}
