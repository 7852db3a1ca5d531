// LanceDB's errors come from Rust: long, repeated in "Caused by" chains, with the build machine's
// source paths (/usr/local/cargo/.../scanner.rs:452:33). Ours say what we were doing and on which
// index or table, with the first line of LanceDB's as the cause (the original kept as `cause`).

/** The first line of LanceDB's message, without its "Caused by" chain and Rust source locations, at most 300 characters. */
export function lanceCause(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const line = (message.split('\n')[0] ?? '').split(/\s{2,}Caused by:/)[0]!;
  const clean = line.replace(/,?\s*(?:[A-Za-z]:)?[\\/][^\s,]*\.rs:\d+(?::\d+)?/g, '').trim();
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

/** Runs a LanceDB call; a failure becomes `${doing}: ${cause}`, e.g. "search: cannot search the table at X". */
export async function lanceCall<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new Error(`${doing}: ${lanceCause(error)}`, { cause: error });
  }
}
