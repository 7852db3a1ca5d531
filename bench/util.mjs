// Small helpers the benchmarks share.

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** A STORAGE buffer on `device` holding `data` (the write is queued). */
export function storageBuffer(device, data) {
  const buffer = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

/** The value after `--name` on the command line, or `fallback`. */
export function argValue(name, fallback) {
  const args = process.argv.slice(2);
  return args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback;
}

/** A line prefixed with the seconds since the process started. */
export function log(line) {
  console.log(`[${(performance.now() / 1000).toFixed(0).padStart(5)} s] ${line}`);
}

/** The q-quantile of a list (the element at floor(q * n) of the sorted list). */
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Milliseconds for a table: whole above 100, one decimal below. */
export function fmtMs(ms) {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

/**
 * The engine options of a bench: --backend (default `fallback`, or NAAF_BACKEND) and --threads
 * (the CPU backend's). GPU benches default to 'webgpu': on a software adapter 'auto' would take
 * the CPU backend.
 */
export function backendOptions(fallback = 'webgpu') {
  const backend = argValue('backend', process.env.NAAF_BACKEND || fallback);
  const threads = argValue('threads', '');
  return { backend, ...(threads ? { threads: Number(threads) } : {}) };
}
