#!/usr/bin/env bash
# The README's UC Merced results tables: method variants x seeds at a preset and train ratio, one run at a time so
# that epoch times are not disturbed, then `dsdnet report`. Re-running skips finished runs (in RUNS_DIR, or copied
# to results/ from an earlier checkout) and resumes interrupted ones. Each finished run's config, metrics and report
# (no weights) are copied to results/ucmerced-<preset>[-r<ratio>]/, which the repository keeps.
# Usage: [PRESET=cpu|finetune|finetune-r50] [RATIO=0.8] [PRECISION=fp32|bf16] [SEEDS="0 1 2"] [VARIANTS="plain sd dsd dsd-released dsd-noentropy"]
#        [EXTRA="--no-channels-last"] bash scripts/ucm-table.sh [DATA_DIR] [RUNS_DIR]
# bf16 runs go to their own folders (tag suffix -bf16); EXTRA is passed to every `dsdnet train` (e.g. to keep a table's
# remaining runs in the layout its first runs used). DSDNET_CLI replaces `npx dsdnet` (e.g. a frozen build that a
# table's earlier runs used, so that its remaining runs compute exactly as they did).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/datasets/ucmerced}"
runs="${2:-runs}"
preset="${PRESET:-cpu}"
ratio="${RATIO:-0.8}"
seeds="${SEEDS:-0 1 2}"
order="${VARIANTS:-plain sd dsd dsd-released dsd-noentropy}"
precision="${PRECISION:-fp32}"
extra="${EXTRA:-}"
read -r -a cli <<< "${DSDNET_CLI:-npx dsdnet}"
declare -A variants=(
  [plain]="--method plain"
  [sd]="--method sd"
  [dsd]="--method dsd"
  [dsd-released]="--method dsd --distill released"
  [dsd-noentropy]="--method dsd --entropy-weight 0"
)
# The cpu table at 80% keeps its original names.
tag="$preset"
[ "$ratio" != "0.8" ] && tag="$preset-r${ratio#0.}"
[ "$precision" != "fp32" ] && tag="$tag-$precision"
prefix="ucm"
[ "$tag" != "cpu" ] && prefix="ucm-$tag"
results="results/ucmerced-$tag"
mkdir -p "$runs" "$results"
for seed in $seeds; do
  for name in $order; do
    out="$runs/$prefix-$name-s$seed"
    kept="$results/$prefix-$name-s$seed"
    if [ -f "$kept/report.json" ] && [ ! -f "$out/report.json" ]; then
      echo "done (results): $kept"
      continue
    elif [ -f "$out/report.json" ]; then
      echo "done: $out"
    else
      resume=""
      [ -f "$out/config.json" ] && resume="--resume"
      echo "$(date -u +%FT%TZ) start: $out ${resume}"
      # shellcheck disable=SC2086
      "${cli[@]}" train "$data" --preset "$preset" ${variants[$name]} --ratio "$ratio" --seed "$seed" --precision "$precision" $extra --out "$out" $resume --quiet >> "$out.log" 2>&1
      tail -1 "$out.log"
    fi
    mkdir -p "$results/$prefix-$name-s$seed"
    cp "$out"/{config.json,metrics.jsonl,report.json} "$results/$prefix-$name-s$seed/"
  done
done
"${cli[@]}" report "$results"/*-s*/
