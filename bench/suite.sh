#!/usr/bin/env bash
# The whole benchmark suite in one command, for a GPU machine (at most 10 minutes there):
#   bash ../shared/gpu/prepare.sh && (device run, carry .gpu and dist):
#   source .gpu/remote-setup.sh && bash bench/suite.sh --record
# and here, without a GPU (lavapipe, a few minutes): bash bench/suite.sh --quick
# It measures every target of bench/RESULTS.md's table: f30k NAAF and SCAN (f32 fused and
# split, f16, int8 on tensor cores and dot4), exact top-10 from int8 / f16, accuracy, Dawn
# toggles, per-kernel profiles, coco5k with its peak memory, a full-size training step with
# its profile, and the resident gallery at 1k, 10k and 20k images (R 36, D 1024). Then, for the
# device-dependent tests on that GPU (int8 tensor cores included):
#   NAAF_TEST_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis npm run test:gpu Output goes to $OUT (the device tool's folder) or bench/out, and with --record
# into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
record=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=true ;;
    --record) record=(--record) ;;
    *) echo "bench/suite.sh: unknown argument $arg (use --quick, --record)" >&2; exit 2 ;;
  esac
done
out=${OUT:-bench/out}
mkdir -p "$out"
export OUT=$out
start=$(date +%s)
# run SECONDS ARGS...: one benchmark, stopped after SECONDS (what it printed so far is kept)
run() {
  local limit=$1
  shift
  echo "== node $* (limit ${limit} s, at $(( $(date +%s) - start )) s)" | tee -a "$out/suite.log"
  timeout "$limit" node "$@" 2>&1 | grep -v -e '^Warning: maxDynamic' -e 'use of deprecated builtin' | tee -a "$out/suite.log" || echo "(stopped or failed: exit ${PIPESTATUS[0]})" | tee -a "$out/suite.log"
}
if $quick; then
  # lavapipe: the split / fused ratio at the quick shape (target <= 0.6 for NAAF f32), every
  # variant, exact top-k, profiles and toggles at the demo shape, a small training step profiled.
  run 400 bench/similarity.bench.mjs --shape quick --methods naaf --samples 3 --profile "${record[@]}"
  run 400 bench/similarity.bench.mjs --shape demo --f16 --int8 --exact --accuracy --toggles --samples 3 "${record[@]}"
  run 300 bench/train.bench.mjs --profile "${record[@]}"
else
  run 270 bench/similarity.bench.mjs --shape f30k --unsafe --f16 --int8 --compare-dot4 --exact --accuracy --toggles --profile --samples 5 "${record[@]}"
  run 120 bench/similarity.bench.mjs --shape coco5k --unsafe --int8 --methods naaf --kernels split --samples 1 "${record[@]}"
  run 90 bench/train.bench.mjs --full --profile "${record[@]}"
  # The resident gallery at R 36, D 1024 (issue 17): per-query latency against engine.topK.
  run 120 bench/gallery.bench.mjs --images 1000,10000,20000 --toggles "${record[@]}"
fi
[ ${#record[@]} -eq 0 ] || cp bench/RESULTS.md "$out/RESULTS.md"
echo "suite done in $(( $(date +%s) - start )) s: $out/suite.log"
