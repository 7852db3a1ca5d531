#!/usr/bin/env bash
# The whole benchmark suite in one command, for a GPU machine:
#   bash ../shared/gpu/prepare.sh && (device run, carry .gpu and dist):
#   source .gpu/remote-setup.sh && bash bench/suite.sh --record
# and here, without a GPU: bash bench/suite.sh --quick
# Output goes to $OUT (the device tool's folder) or bench/out, and with --record into bench/RESULTS.md.
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
tiles="$out/tiles.json"
# run SECONDS ARGS...: one benchmark, stopped after SECONDS (what it printed so far is kept)
run() {
  local limit=$1
  shift
  echo "== node $*" | tee -a "$out/suite.log"
  timeout "$limit" node "$@" 2>&1 | grep -v -e '^Warning: maxDynamic' -e 'use of deprecated builtin' | tee -a "$out/suite.log" || echo "(stopped or failed: exit ${PIPESTATUS[0]})" | tee -a "$out/suite.log"
}
if $quick; then
  run 600 bench/similarity.bench.mjs --shape demo --tune --int8 --accuracy --sweep --tile-cache "$tiles" "${record[@]}"
  run 600 bench/reference.bench.mjs "${record[@]}"
  run 600 bench/train.bench.mjs "${record[@]}"
else
  # f30k: tune the tiles (saved for coco5k), f32 and int8 (tensor cores with allow_unsafe_apis), accuracy, pairs/s sweep
  run 200 bench/similarity.bench.mjs --shape f30k --unsafe --tune --int8 --compare-dot4 --accuracy --sweep --tile-cache "$tiles" "${record[@]}"
  run 120 bench/similarity.bench.mjs --shape coco5k --unsafe --int8 --compare-dot4 --methods naaf --samples 1 --tile-cache "$tiles" "${record[@]}"
  run 60 bench/train.bench.mjs --full "${record[@]}"
fi
[ ${#record[@]} -eq 0 ] || cp bench/RESULTS.md "$out/RESULTS.md"
echo "suite done: $out/suite.log"
