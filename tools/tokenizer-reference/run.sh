#!/usr/bin/env bash
# Makes the reference tokenizer fixtures (make-fixtures.mjs) in data/tokenizer-reference/: installs the pinned
# npm packages into tools/tokenizer-reference/node_modules/ (npm ci, once per package-lock.json), then runs the
# script. Skips the work when the fixtures are newer than the script, the lock file and data/kjv.txt.
# tools/setup.sh calls it; tests/data/test_tokenizer_reference.cpp reads its output. Needs node and npm
# (tools/setup.sh installs Debian's) and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tools/tokenizer-reference
out=data/tokenizer-reference
command -v node >/dev/null && command -v npm >/dev/null || { echo "tokenizer-reference: node and npm are needed" >&2; exit 1; }
[ -s data/kjv.txt ] || { echo "tokenizer-reference: data/kjv.txt is missing (tools/setup.sh writes it)" >&2; exit 1; }
if [ ! -f "$here/node_modules/.lock-stamp" ] || ! cmp -s "$here/package-lock.json" "$here/node_modules/.lock-stamp"; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$here/node_modules/.lock-stamp"
fi
if [ -f "$out/manifest.json" ] && [ "$out/manifest.json" -nt "$here/make-fixtures.mjs" ] &&
   [ "$out/manifest.json" -nt "$here/package-lock.json" ] && [ "$out/manifest.json" -nt data/kjv.txt ]; then
  exit 0
fi
rm -rf "$out.tmp"
node "$here/make-fixtures.mjs" --kjv data/kjv.txt --code core,kernels,data,trainers --out "$out.tmp"
rm -rf "$out"
mv "$out.tmp" "$out"
