// Limits every WebGPU device has (the spec's defaults), for sizing dispatches and buffers.

/** Workgroups per dispatch dimension (maxComputeWorkgroupsPerDimension's default). */
export const MAX_GROUPS = 65535;

/**
 * The bytes one scratch buffer (the split path's S) may take: the call's budget, capped by one
 * buffer and one storage binding on this device.
 */
export function scratchBytesLimit(limits: GPUSupportedLimits, budget: number): number {
  return Math.min(budget, limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}
