#!/usr/bin/env bash
# The README's UC Merced results table: five variants x three seeds at the cpu preset (ResNet-18 from scratch,
# 128 px, 30 epochs, 80% train), one run at a time so that epoch times are not disturbed, then `dsdnet report`.
# Re-running skips finished runs and resumes interrupted ones. Each finished run's config, metrics and report (no
# weights) are copied to results/ucmerced-cpu/, which the repository keeps.
# Usage: bash scripts/ucm-table.sh [DATA_DIR] [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/datasets/ucmerced}"
runs="${2:-runs}"
seeds="${SEEDS:-0 1 2}"
declare -A variants=(
  [plain]="--method plain"
  [sd]="--method sd"
  [dsd]="--method dsd"
  [dsd-released]="--method dsd --distill released"
  [dsd-noentropy]="--method dsd --entropy-weight 0"
)
order="plain sd dsd dsd-released dsd-noentropy"
results=results/ucmerced-cpu
mkdir -p "$runs" "$results"
for seed in $seeds; do
  for name in $order; do
    out="$runs/ucm-$name-s$seed"
    if [ -f "$out/report.json" ]; then
      echo "done: $out"
    else
      resume=""
      [ -f "$out/config.json" ] && resume="--resume"
      echo "$(date -u +%FT%TZ) start: $out ${resume}"
      # shellcheck disable=SC2086
      npx dsdnet train "$data" --preset cpu ${variants[$name]} --seed "$seed" --out "$out" $resume --quiet >> "$out.log" 2>&1
      tail -1 "$out.log"
    fi
    mkdir -p "$results/ucm-$name-s$seed"
    cp "$out"/{config.json,metrics.jsonl,report.json} "$results/ucm-$name-s$seed/"
  done
done
npx dsdnet report "$results"/ucm-*-s*/
