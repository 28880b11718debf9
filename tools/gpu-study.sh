#!/usr/bin/env bash
# Runs (or continues) a study on a GPU machine within a wall-clock budget, several lat-study processes at once,
# and packs what the report needs into one archive.
#   tools/gpu-study.sh STUDY.toml STUDY_DIR SECONDS [PROCESSES] [OUTDIR]
# Each process takes `--shard i/PROCESSES` of the grid, so small models that leave the GPU idle between
# kernel launches share it; a process still running when SECONDS have passed is stopped with SIGTERM (its
# current run checkpoints if the recipe checkpoints, and is resumed or restarted by the next call; finished runs
# are never redone). Then `lat-study --report-only` writes the report of the runs finished so far, and
# OUTDIR/<study name>.tar.xz receives STUDY_DIR without checkpoints: unpack it into the checkout and call again
# to continue. LAT_STUDY (default build-gpu/tools/lat-study) names the binary; toml++ comes from .deps
# (../shared/GPU.md).
set -uo pipefail
study=${1:?usage: tools/gpu-study.sh STUDY.toml STUDY_DIR SECONDS [PROCESSES] [OUTDIR]}
dir=${2:?study directory}
budget=${3:?seconds}
procs=${4:-4}
out=${5:-${OUT:-out}}
bin=${LAT_STUDY:-build-gpu/tools/lat-study}
root=$(cd "$(dirname "$0")/.." && pwd)
export NCCL_NVLS_ENABLE=0 OMP_NUM_THREADS=2
if ls "$root"/.deps/*.deb >/dev/null 2>&1; then
  mkdir -p "$root/.deps/root"
  for f in "$root"/.deps/*.deb; do dpkg -x "$f" "$root/.deps/root"; done
  export LD_LIBRARY_PATH="$root/.deps/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
fi
mkdir -p "$out" "$dir"
name=$(basename "$dir")
start=$(date +%s)
pids=()
for i in $(seq 1 "$procs"); do
  timeout -s TERM "$budget" "$bin" "$study" --study-dir "$dir" --shard "$i/$procs" >"$dir/shard-$i.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "gpu-study: $procs shards ran $(( $(date +%s) - start )) s"
for i in $(seq 1 "$procs"); do tail -n 2 "$dir/shard-$i.log"; done
finished=$(find "$dir/runs" -name eval.json | wc -l)
started=$(find "$dir/runs" -name run.json | wc -l)
echo "gpu-study: $finished runs finished, $started started"
"$bin" "$study" --study-dir "$dir" --report-only >"$dir/report.log" 2>&1 || tail -n 3 "$dir/report.log"
tar -C "$(dirname "$dir")" --exclude=checkpoints -cJf "$out/$name.tar.xz" "$name"
ls -la "$out/$name.tar.xz"
