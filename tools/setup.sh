#!/usr/bin/env bash
# Sets up a fresh Debian machine for lat and builds it: installs the Debian packages lat needs (as root or
# through sudo), writes the King James Bible text to data/kjv.txt (the quickstart corpus) and its split by
# books to data/kjv/{train,val,test}.txt (recipes/kjv; tools/split-kjv.sh), makes the reference tokenizer
# fixtures (tools/tokenizer-reference/run.sh, with Debian's nodejs and npm), configures with
# CUDA when the toolkit is at /usr/local/cuda, and builds into build/. Safe to run again: it only does what
# is missing. --werror builds with warnings as errors (LAT_WERROR=ON), also in an existing build directory.
# Usage: tools/setup.sh [--werror] [--build-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

werror=OFF
build_dir=build
while [ $# -gt 0 ]; do
  case "$1" in
    --werror) werror=ON ;;
    --build-dir) build_dir="$2"; shift ;;
    *) echo "setup.sh: unknown argument '$1' (expected --werror or --build-dir DIR)" >&2; exit 2 ;;
  esac
  shift
done

packages=(cmake ninja-build g++ libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libcli11-dev libfmt-dev
          libtomlplusplus-dev doctest-dev libopenblas-dev bible-kjv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mkdir -p data
if [ ! -s data/kjv.txt ]; then
  bible gen1:1-rev22:21 > data/kjv.txt.tmp && mv data/kjv.txt.tmp data/kjv.txt
  echo "setup: wrote data/kjv.txt ($(wc -c < data/kjv.txt) bytes)"
fi
if [ ! -s data/kjv/test.txt ]; then
  tools/split-kjv.sh data/kjv
fi
# The reference tokenizers' expected ids (tools/tokenizer-reference/, data/tokenizer-reference/), which
# tests/data/test_tokenizer_reference.cpp compares lat's BPE with: node and npm from Debian when missing.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing nodejs npm"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
tools/tokenizer-reference/run.sh ||
  echo "setup: the reference tokenizer fixtures could not be made; their test fails under CI and skips elsewhere" >&2

cuda_args=()
if [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_args=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DLAT_CUDA=ON)
fi
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLAT_WERROR="$werror" "${cuda_args[@]}" >/dev/null
elif [ "$werror" = ON ]; then
  # An existing build directory keeps its cache; --werror turns warnings into errors there too (without it, the
  # cache's choice stands, so running setup.sh again after a --werror setup keeps it).
  cmake -S . -B "$build_dir" -DLAT_WERROR=ON >/dev/null
fi
cmake --build "$build_dir"
