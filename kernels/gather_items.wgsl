// Copies whole items (an image's region rows, or its Gram) from scattered places of `src` to
// chosen places of `dst`, bit for bit: one workgroup per item, so a shortlist's scattered
// images come side by side in one dispatch instead of a buffer copy each (on a CPU driver a copy
// command costs about 7 us, as much as scoring the image).
// Constants: WG (threads).

struct Params {
  first: u32,  // the dispatch's first entry of `items`
  count: u32,  // entries in `items`
  words: u32,  // 32-bit words per item
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<storage, read> items: array<u32>;  // [source item, destination item] per entry

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) group: vec3u) {
  let entry = params.first + group.x;
  if (entry >= params.count) { return; }
  let srcAt = items[2u * entry] * params.words;
  let dstAt = items[2u * entry + 1u] * params.words;
  for (var i = tid; i < params.words; i += WG) { dst[dstAt + i] = src[srcAt + i]; }
}
