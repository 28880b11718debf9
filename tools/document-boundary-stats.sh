#!/usr/bin/env bash
# How much of a text folder's training windows a document boundary touches (docs/data.md, "Document
# boundaries"): the folder is read as load_text_dataset reads it (regular files in byte order of their names,
# hidden ones skipped, one EOS between files) and cut into windows of T tokens as TokenWindows cuts it. Prints the
# windows holding a boundary after their first token and the tokens that sit after one in their window (the
# tokens whose attention data.document_boundaries shortens).
#   tools/document-boundary-stats.sh data/corpus/train 512
set -euo pipefail
[[ $# -eq 2 && -d $1 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 FOLDER SEQ_LEN" >&2; exit 2; }
find "$1" -maxdepth 1 -type f ! -name '.*' -printf '%f\t%s\n' | LC_ALL=C sort | awk -F'\t' -v T="$2" -v dir="$1" '
  { if (NR > 1) eos[++n] = pos + 0; pos += (NR > 1) + $2; files = NR }
  END {
    tokens = pos; windows = int((tokens - 1) / T)
    for (i = 1; i <= n; i++) {
      w = int(eos[i] / T); t = eos[i] - w * T
      if (w < windows && t > 0 && !(w in first)) { first[w] = t; hit++; after += T - t }
    }
    printf "%s: %d files, %d tokens, %d windows of %d; %d windows (%.2f %%) hold a boundary; %d tokens (%.2f %%) sit after one in their window\n",
           dir, files, tokens, windows, T, hit, 100 * hit / windows, after, 100 * after / (windows * T)
  }'
