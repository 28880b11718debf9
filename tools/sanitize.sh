#!/usr/bin/env bash
# The sanitizer build (docs/reliability.md): clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer (and
# libFuzzer's coverage instrumentation, so tools/fuzz.sh runs its harnesses from the same build), CUDA off, into
# build-san/; then the CPU suite, lat_tests, which also runs the sanitized lat-train, lat-generate, ... binaries.
# Any sanitizer report fails the run. Usage: tools/sanitize.sh [--build-dir DIR] [--build-only] [-- doctest args]
# (default: all but the two longest trainings, see below).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build-san
build_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift ;;
    --build-only) build_only=1 ;;
    --) shift; break ;;
    *) echo "sanitize.sh: unknown argument '$1' (expected --build-dir DIR, --build-only or -- ARGS)" >&2; exit 2 ;;
  esac
  shift
done

packages=(clang-14 libclang-rt-14-dev libomp-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sanitize: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$build_dir/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLAT_CUDA=OFF \
    -DLAT_FUZZ=ON -DLAT_WERROR=OFF "${launcher[@]}" \
    -DCMAKE_CXX_FLAGS="$san -fsanitize=fuzzer-no-link" -DCMAKE_C_FLAGS="$san" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -march=x86-64-v3" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_EXE_LINKER_FLAGS="$san" -DCMAKE_SHARED_LINKER_FLAGS="$san" >/dev/null
fi
start=$(date +%s)
cmake --build "$build_dir"
echo "sanitize: built $build_dir in $(( $(date +%s) - start )) s"
[ "$build_only" -eq 1 ] && exit 0

# Leaks: OpenMPI and HDF5 keep allocations until exit by design; lat's own are checked by the tests' own
# accounting (the allocator's bytes_in_use), so LeakSanitizer is off.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=2
start=$(date +%s)
if [ $# -gt 0 ]; then
  "$build_dir/tests/lat_tests" "$@"
else
  # Every test case. The two longest trainings (about 10 min of the sanitized suite's time on a loaded machine)
  # run in a second process beside the rest, so the suite's wall time is about the longer of the two.
  long="MQAR: the shipped elu1 recipe*,Attention: one-token steps over 200 tokens*"
  log=$(mktemp)
  "$build_dir/tests/lat_tests" -tc="$long" >"$log" 2>&1 &
  long_pid=$!
  rest=0
  "$build_dir/tests/lat_tests" -tce="$long" || rest=$?
  long_rc=0
  wait "$long_pid" || long_rc=$?
  echo "sanitize: the two longest trainings, in their own process:"
  cat "$log"
  rm -f "$log"
  [ "$rest" -eq 0 ] && [ "$long_rc" -eq 0 ] || { echo "sanitize: lat_tests failed under ASan+UBSan" >&2; exit 1; }
fi
echo "sanitize: lat_tests under ASan+UBSan took $(( $(date +%s) - start )) s"
