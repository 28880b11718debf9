#!/usr/bin/env bash
# The include layering of docs/conventions.md ("Layers and targets"), checked over the tree:
#   core ← kernels ← autograd ← optim ← trainers ← study ← tools, and core ← data ← trainers
# A file may include lat headers only from its own layer and the layers below it. CUDA sources (*.cu, *.cuh)
# include only CUDA-clean lat headers: their own kernels/cuda/*.cuh and core/{error,dtype,philox,cuda_context,
# bfloat16}.h; fmt is included only by core/log.h within core. Prints one line per violation,
# "<file>:<line>: <layer> may not include <header>", and exits 1 if there is any.
# Usage: tools/check-layers.sh [ROOT]   (default: the repository this script is in)
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$root"

# The lat layers each layer may include (its own first).
declare -A allowed=(
  [core]="core"
  [kernels]="kernels core"
  [autograd]="autograd kernels core"
  [optim]="optim autograd kernels core"
  [data]="data core"
  [trainers]="trainers optim data autograd kernels core generated"
  [study]="study trainers optim data autograd kernels core"
)
cuda_clean="core/error.h core/dtype.h core/philox.h core/cuda_context.h core/bfloat16.h"

violations=0
report() {
  echo "$1"
  violations=$((violations + 1))
}

for layer in core kernels autograd optim data trainers study; do
  [ -d "$layer" ] || continue
  while IFS= read -r -d '' file; do
    while IFS=: read -r line header; do
      top="${header%%/*}"
      case "$file" in
        *.cu | *.cuh)
          if [[ "$header" != kernels/cuda/*.cuh && " $cuda_clean " != *" $header "* ]]; then
            report "$file:$line: CUDA source may include only CUDA-clean lat headers, not $header"
          fi
          continue ;;
      esac
      [[ "$header" == */* ]] || continue  # a header beside the file (none today) or a system one
      if [[ " ${allowed[$layer]} " != *" $top "* ]]; then
        report "$file:$line: $layer may not include $header (allowed: ${allowed[$layer]})"
      fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
             sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1:\2/')
    if [ "$layer" = core ] && [ "$file" != core/log.h ] && grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<fmt/' "$file"; then
      report "$file: core includes fmt only in core/log.h"
    fi
  done < <(find "$layer" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -print0 | sort -z)
done

if [ "$violations" -gt 0 ]; then
  echo "check-layers: $violations include(s) break the layering of docs/conventions.md" >&2
  exit 1
fi
echo "check-layers: every include follows the layering of docs/conventions.md"
