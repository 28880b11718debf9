#!/usr/bin/env bash
# CPU training on a busy machine (docs/reliability.md, "A busy machine"): quickstart tokens/s with the machine
# idle and with one busy process (`yes > /dev/null`) per OpenMP waiting policy:
#   before            GOMP_SPINCOUNT=300000: what libgomp does when neither variable is set, i.e. lat before it
#                     chose (lat-train re-executes itself with OMP_WAIT_POLICY=passive only when the user has set
#                     neither variable, so setting one measures that policy)
#   after             nothing set: lat-train's own choice (core/threads.h): passive waiting and a thread count
#                     that follows the load
#   passive, fixed    OMP_WAIT_POLICY=passive with OMP_NUM_THREADS = cores: passive waiting without the thread
#                     count that follows the load (setting OMP_NUM_THREADS fixes the count)
# "before" also fixes the thread count (OMP_NUM_THREADS = cores), as lat had no load-following count then.
# Prints one table row per policy: idle tok/s, busy tok/s, busy/idle. Usage:
#   tools/contention-bench.sh [--steps N] [--build-dir DIR] [--repeat R]
# Needs data/kjv.txt (tools/setup.sh). Each measurement is the mean tokens/s of the progress lines after the
# first (warm-up) one; R repeats alternate idle and busy and keep the best of each (other load only slows).
set -euo pipefail
cd "$(dirname "$0")/.."

steps=60
build_dir=build
repeat=2
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps="$2"; shift ;;
    --build-dir) build_dir="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    *) echo "contention-bench.sh: unknown argument '$1' (expected --steps N, --build-dir DIR or --repeat R)" >&2; exit 2 ;;
  esac
  shift
done
train="$build_dir/tools/lat-train"
[ -x "$train" ] || { echo "contention-bench.sh: $train is not built (ninja -C $build_dir lat-train)" >&2; exit 1; }
[ -s data/kjv.txt ] || { echo "contention-bench.sh: data/kjv.txt is missing (tools/setup.sh writes it)" >&2; exit 1; }

work=$(mktemp -d)
busy_pid=""
cleanup() {
  [ -n "$busy_pid" ] && kill "$busy_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# tokens/s of one run: the mean of the progress lines' tok/s after the first.
measure() {
  local out
  out=$(env "$@" "$train" recipes/quickstart.toml --set training.device=cpu --set training.steps="$steps" \
        --set training.eval_interval=0 --set logging.interval=10 --set checkpoint.interval=0 \
        --set schedule.warmup_steps=10 --run-dir "$work/run" --overwrite --no-sample 2>&1)
  echo "$out" | awk '/tok\/s/ { for (i = 1; i <= NF; ++i) if ($i == "tok/s") { n++; if (n > 1) { s += $(i-1); m++ } } }
                     END { if (m == 0) { print "nan" } else { printf "%.0f\n", s / m } }'
}

best() { printf '%s\n' "$@" | sort -g | tail -1; }

row() {
  local name="$1"; shift
  local idle=() busy=()
  for _ in $(seq "$repeat"); do
    idle+=("$(measure "$@")")
    yes > /dev/null &
    busy_pid=$!
    busy+=("$(measure "$@")")
    kill "$busy_pid"; wait "$busy_pid" 2>/dev/null || true; busy_pid=""
  done
  local i b
  i=$(best "${idle[@]}"); b=$(best "${busy[@]}")
  printf '| %-18s | %7s | %7s | %4s %% |\n' "$name" "$i" "$b" "$(awk -v i="$i" -v b="$b" 'BEGIN { printf "%.0f", 100 * b / i }')"
}

echo "# $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg); lat $(git rev-parse --short HEAD); $steps steps x $repeat"
echo "| policy             | idle tok/s | busy tok/s | busy/idle |"
echo "|---|---|---|---|"
cores=$(nproc)
row "before" GOMP_SPINCOUNT=300000 OMP_NUM_THREADS="$cores"
row "passive, fixed" OMP_WAIT_POLICY=passive OMP_NUM_THREADS="$cores"
row "after" -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u OMP_NUM_THREADS
