#!/usr/bin/env bash
# One call on the GPU machine: configure + build (only what the checks need), run the gpu-labelled tests and
# `lat-bench ops`, writing every log to OUTDIR (see ../shared/GPU.md for the machine and its recipe).
#   tools/gpu-check.sh OUTDIR [SRCDIR]
# SRCDIR defaults to this checkout; pass a clean snapshot (git archive + the files under test) when the working
# tree holds other people's unfinished files. toml++ comes from .deps/*.deb of this checkout (GPU.md).
# Env: LAT_GPU_CHECK_TARGETS (default "lat_gpu_tests lat-bench"), LAT_BENCH_ARGS (extra args to lat-bench ops),
#      LAT_SKIP_BENCH=1 to run the tests only, LAT_SANITIZE=1 to add a compute-sanitizer memcheck pass.
set -uo pipefail
out=$(realpath -m "${1:?usage: tools/gpu-check.sh OUTDIR [SRCDIR]}")
root=$(cd "$(dirname "$0")/.." && pwd)
src=$(realpath "${2:-$root}")
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0

if ls "$root"/.deps/*.deb >/dev/null 2>&1; then
  mkdir -p "$root/.deps/root"
  for f in "$root"/.deps/*.deb; do dpkg -x "$f" "$root/.deps/root"; done
fi
export LD_LIBRARY_PATH="$root/.deps/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"

nvidia-smi >"$out/nvidia-smi.txt" 2>&1
build="$src/build-gpu"
t0=$(date +%s)
if ! cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
     -DCMAKE_PREFIX_PATH="$root/.deps/root/usr" >"$out/build.log" 2>&1; then
  echo "configure failed"; tail -40 "$out/build.log"; exit 1
fi
# shellcheck disable=SC2086
if ! ninja -C "$build" -j16 ${LAT_GPU_CHECK_TARGETS:-lat_gpu_tests lat-bench} >>"$out/build.log" 2>&1; then
  echo "build failed"; grep -B2 -A12 -m5 "error" "$out/build.log" | head -80; exit 1
fi
echo "build: $(( $(date +%s) - t0 )) s"

"$build/tests/lat_gpu_tests" --duration=true >"$out/tests.log" 2>&1
echo "lat_gpu_tests exit $?"; grep -E "MESSAGE|error|ERROR|FAILED|test cases|assertions|differ|: error" "$out/tests.log" | head -120
(cd "$build" && ctest -L gpu --output-on-failure >"$out/ctest.log" 2>&1); echo "ctest -L gpu exit $?"; tail -4 "$out/ctest.log"

if [ "${LAT_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null; then
  # Out-of-bounds and misaligned accesses in the hand-written kernels (memcheck slows kernels 10-100x: the
  # large-size cases are filtered out).
  timeout 180 compute-sanitizer --tool memcheck --error-exitcode 3 "$build/tests/lat_gpu_tests" \
    -tce="*philox*,*gemm*" >"$out/sanitizer.log" 2>&1
  echo "compute-sanitizer memcheck exit $?"; grep -E "ERROR SUMMARY|Invalid|test cases" "$out/sanitizer.log" | head -20
fi

if [ "${LAT_SKIP_BENCH:-0}" != 1 ] && [ -x "$build/tools/lat-bench" ]; then
  # shellcheck disable=SC2086
  "$build/tools/lat-bench" ops ${LAT_BENCH_ARGS:-} >"$out/bench.md" 2>&1; echo "lat-bench ops exit $?"
  cat "$out/bench.md"
fi
