#!/usr/bin/env bash
# Splits the King James Bible (Debian package bible-kjv: `bible gen1:1-rev22:21`) by whole books into
# OUTDIR/{train,val,test}.txt (default data/kjv), so held-out text is never a continuation of training text.
# The held-out books mix genres (docs/data.md):
#   val   Ruth, Ecclesiastes, Daniel, Joel, Mark, Ephesians   (narrative, wisdom, apocalyptic, prophecy,
#                                                              gospel, epistle)
#   test  Esther, Lamentations, Jonah, Luke, James            (narrative, poetry, prophecy, gospel, epistle)
# Every other book is training text, in canonical order. A book starts at its chapter-1 header line
# ("Song of Solomon 1"), which follows a blank line. Usage: tools/split-kjv.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
out="${1:-data/kjv}"
command -v bible >/dev/null || { echo "split-kjv.sh: 'bible' not found (Debian package bible-kjv)" >&2; exit 1; }

mkdir -p "$out"
bible gen1:1-rev22:21 | awk -v out="$out" '
  BEGIN {
    split("Ruth|Ecclesiastes|Daniel|Joel|Mark|Ephesians", v, "|"); for (i in v) split_of[v[i]] = "val"
    split("Esther|Lamentations|Jonah|Luke|James", t, "|"); for (i in t) split_of[t[i]] = "test"
    current = "train"; prev = ""
  }
  prev == "" && /^[1-3]? ?[A-Z][A-Za-z ]* 1$/ {           # chapter 1 of a book
    book = $0; sub(/ 1$/, "", book)
    current = (book in split_of) ? split_of[book] : "train"
    seen[book] = 1
  }
  { print > (out "/" current ".tmp"); prev = $0 }
  END {
    for (b in split_of) if (!(b in seen)) { print "split-kjv.sh: book \"" b "\" not found" > "/dev/stderr"; exit 1 }
  }'
for s in train val test; do
  mv "$out/$s.tmp" "$out/$s.txt"
  echo "split-kjv: $out/$s.txt ($(wc -c < "$out/$s.txt") bytes)"
done
