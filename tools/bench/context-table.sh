#!/usr/bin/env bash
# Tokens/s of a recipe's training step at several contexts with equal tokens per step (issue 5's flatness table):
#   tools/bench/context-table.sh LAT_BENCH RECIPE [TOKENS_PER_STEP] [CONTEXT ...]
# defaults: 32768 tokens per step at contexts 2048 8192 32768 (batch = tokens / context). Prints a Markdown table.
set -uo pipefail
bench=${1:?usage: context-table.sh LAT_BENCH RECIPE [TOKENS_PER_STEP] [CONTEXT ...]}
recipe=${2:?usage: context-table.sh LAT_BENCH RECIPE [TOKENS_PER_STEP] [CONTEXT ...]}
tokens=${3:-32768}
shift $(( $# < 3 ? $# : 3 ))
contexts=("$@")
[ ${#contexts[@]} -eq 0 ] && contexts=(2048 8192 32768)
echo "| $(basename "$recipe") context | batch | tokens/s | MFU | peak GiB |"
echo "|---:|---:|---:|---:|---:|"
for t in "${contexts[@]}"; do
  b=$(( tokens / t ))
  out=$("$bench" train "$recipe" --steps "${LAT_CONTEXT_STEPS:-6}" --warmup 2 --set training.seq_len="$t" \
        --set training.batch_size="$b" 2>&1) || { echo "| $t | $b | failed: $(echo "$out" | tail -1) | | |"; continue; }
  tps=$(echo "$out" | sed -n 's/^tokens\/s \([0-9]*\).*/\1/p')
  mfu=$(echo "$out" | sed -n 's/^MFU \([0-9.]*%\).*/\1/p')
  mem=$(echo "$out" | sed -n 's/^peak device memory \([0-9.]*\) GiB.*/\1/p')
  echo "| $t | $b | $tps | $mfu | $mem |"
done
