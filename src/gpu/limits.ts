// Limits every WebGPU device has (the spec's defaults), for sizing dispatches and buffers.

/** Workgroups per dispatch dimension (maxComputeWorkgroupsPerDimension's default). */
export const MAX_GROUPS = 65535;
