#!/usr/bin/env bash
# kill-loop: SIGKILLs a small CPU lat-train run at random moments, again and again, resuming it each time with
# `--resume auto`, and checks that nothing is lost (docs/checkpoints.md, "Crash safety"):
#   - every checkpoint on disk after every kill is readable (lat-export accepts it);
#   - every resume starts (a run that exits by itself with an error is a failed resume);
#   - metrics.jsonl holds steps 1, 2, ..., n, each exactly once and in order, after every kill and at the end.
#
#   tools/kill-loop.sh [--kills N] [--bin BUILD/tools] [--dir WORK_DIR] [--seed S] [--sync]
#
# Checkpoints are written by lat-train's background thread (checkpoint.async, the default), so kills land in the
# middle of asynchronous writes while training goes on; --sync writes them on the training thread instead.
# CI runs 30 kills (tests/CMakeLists.txt, the kill_loop test). Defaults: 100 kills, build/tools, a fresh temporary
# directory, seed 1. Prints the figures and exits 0 only when
# all three counts are clean. A tiny model (d_model 32, 2 layers) with a checkpoint every 2 steps keeps it to
# about a minute on two cores.
set -euo pipefail

kills=100 bin=build/tools dir="" seed=1 async=true
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kills) kills="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --sync) async=false; shift ;;
    *) echo "kill-loop: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -x "$bin/lat-train" && -x "$bin/lat-export" ]] || { echo "kill-loop: no lat-train/lat-export in '$bin'" >&2; exit 2; }
made_dir=false
[[ -n "$dir" ]] || { dir="$(mktemp -d -t lat-kill-loop.XXXXXX)"; made_dir=true; }
mkdir -p "$dir"
RANDOM=$seed

corpus="$dir/corpus.txt"
if [[ ! -s "$corpus" ]]; then
  for i in $(seq 400); do
    echo "In the beginning God created the heaven and the earth. And God said, Let there be light: and there was light."
  done > "$corpus"
fi
run="$dir/run"
train=("$bin/lat-train" --no-sample --run-dir "$run" --resume auto
  --set model.d_model=32 --set model.layers=2 --set model.mlp_hidden=64 --set attention.heads=2
  --set training.steps=1000000 --set training.batch_size=4 --set training.seq_len=32 --set training.device=cpu
  --set training.eval_interval=0 --set checkpoint.interval=2 --set checkpoint.keep_last=3
  --set logging.interval=1 --set logging.level=warn --set "data.path=$corpus" --set "checkpoint.async=$async")

# metrics.jsonl must read 1, 2, ..., n: prints n, or "bad" with the first offending line.
check_metrics() {
  [[ -f "$run/metrics.jsonl" ]] || { echo 0; return; }
  awk '{ if (match($0, /^\{"step": [0-9]+,/) == 0) { print "bad line " NR ": " $0; exit }
         s = substr($0, 10, RLENGTH - 10) + 0
         if (s != NR) { print "bad line " NR ": step " s; exit } }
       END { if (NR == 0 || s == NR) print NR }' "$run/metrics.jsonl" | tail -1
}

unreadable=0 failed=0 metrics_bad=0 checked=0 landed_in_write=0
for ((i = 1; i <= kills; ++i)); do
  "${train[@]}" > "$dir/last.log" 2>&1 &
  pid=$!
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.2 + 1.0 * r / 32767 }')"
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    rc=0
    wait "$pid" || rc=$?
    if [[ $rc -ne 0 ]]; then
      failed=$((failed + 1))
      echo "kill-loop: resume $i exited by itself with code $rc:" >&2
      cat "$dir/last.log" >&2
    fi
  fi
  compgen -G "$run/checkpoints/*.tmp" > /dev/null && landed_in_write=$((landed_in_write + 1))
  for ckpt in "$run"/checkpoints/step_*.h5; do
    [[ -e "$ckpt" ]] || continue
    checked=$((checked + 1))
    rm -f "$dir/probe.h5"
    if ! "$bin/lat-export" "$ckpt" "$dir/probe.h5" > "$dir/export.log" 2>&1; then
      unreadable=$((unreadable + 1))
      echo "kill-loop: after kill $i: $(cat "$dir/export.log")" >&2
    fi
  done
  m="$(check_metrics)"
  if [[ "$m" == bad* ]]; then
    metrics_bad=$((metrics_bad + 1))
    echo "kill-loop: after kill $i: metrics.jsonl $m" >&2
  fi
done

# One last resume that must run to a clean stop, then the final metrics check.
final_rc=0
"${train[@]}" --stop-after 3 > "$dir/last.log" 2>&1 || final_rc=$?
[[ $final_rc -eq 0 ]] || { failed=$((failed + 1)); cat "$dir/last.log" >&2; }
m="$(check_metrics)"
[[ "$m" == bad* ]] && { metrics_bad=$((metrics_bad + 1)); echo "kill-loop: final metrics.jsonl $m" >&2; }
newest="$(ls "$run/checkpoints" | grep -E '^step_[0-9]+\.h5$' | sort | tail -1)"

echo "kill-loop: $kills kills, checkpoint.async=$async ($landed_in_write left a checkpoint .tmp behind), $checked checkpoint checks"
echo "kill-loop: unreadable checkpoints: $unreadable"
echo "kill-loop: failed resumes: $failed"
echo "kill-loop: metrics.jsonl violations: $metrics_bad (final: steps 1..$m each once; newest checkpoint $newest)"
if [[ $unreadable -eq 0 && $failed -eq 0 && $metrics_bad -eq 0 ]]; then
  [[ $made_dir == true ]] && rm -rf "$dir"  # a temporary directory of a clean run goes away
  exit 0
fi
echo "kill-loop: work directory $dir"
exit 1
