#!/usr/bin/env bash
# Runs every libFuzzer harness of tests/fuzz for a bounded time (docs/reliability.md, "Fuzzing"): each starts
# from its seed corpus tests/fuzz/corpus/<name>/ and writes what it finds to a scratch corpus; a crash, a leak of
# an exception, a sanitizer report or a timeout fails the run and leaves the input in fuzz-artifacts/.
# Usage: tools/fuzz.sh [--seconds N] [--build-dir DIR] [--only NAME]   (default 60 s each, build-san)
# The harnesses come from tools/sanitize.sh's build (built here if missing). A crash found becomes a regression
# test: add the input under tests/fuzz/corpus/<name>/ and a case to the suite the harness exercises.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=60
build_dir=build-san
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift ;;
    --build-dir) build_dir="$2"; shift ;;
    --only) only="$2"; shift ;;
    *) echo "fuzz.sh: unknown argument '$1' (expected --seconds N, --build-dir DIR or --only NAME)" >&2; exit 2 ;;
  esac
  shift
done
harnesses=(recipe shard checkpoint generate_args tokenizer_json)
[ -n "$only" ] && harnesses=("$only")
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
tools/sanitize.sh --build-dir "$build_dir" --build-only >/dev/null
cmake --build "$build_dir" --target "${targets[@]}" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$root/fuzz-artifacts"
mkdir -p "$artifacts"
# A huge allocation returns null (lat's allocator then throws its one-line error) instead of aborting; declared
# sizes up to 64 GiB may be allocated (untouched pages cost nothing), as in a release build.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=1
# lat-generate's arguments name c.h5 in the working folder: a real (tiny) checkpoint.
cp tests/fuzz/corpus/checkpoint/tiny.h5 "$work/c.h5"

failed=0
printf '| harness | seconds | runs | coverage (edges) | seed inputs | new inputs | result |\n|---|---|---|---|---|---|---|\n' > "$work/table"
for h in "${harnesses[@]}"; do
  seeds="$root/tests/fuzz/corpus/$h"
  corpus="$work/corpus_$h"
  mkdir -p "$corpus"
  extra=()
  [ "$h" = generate_args ] && extra=(-close_fd_mask=3)
  set +e
  (cd "$work" && "$root/$build_dir/tests/fuzz/fuzz_$h" "$corpus" "$seeds" -max_total_time="$seconds" -timeout=20 \
     -rss_limit_mb=4096 -malloc_limit_mb=65536 -max_len=131072 -print_final_stats=1 -artifact_prefix="$artifacts/${h}-" "${extra[@]}" \
     > "$work/log_$h" 2>&1)
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log_$h" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "$work/log_$h" | tail -1 | grep -o '[0-9]*' || true)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc; input in fuzz-artifacts/)"
    failed=1
    grep -E "ERROR|SUMMARY|runtime error|terminate|==[0-9]+==" "$work/log_$h" | head -20 >&2 || true
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$h" "$seconds" "${runs:-?}" "${cov:-?}" \
    "$(ls "$seeds" | wc -l)" "$(ls "$corpus" | wc -l)" "$result" >> "$work/table"
done
cat "$work/table"
exit $failed
