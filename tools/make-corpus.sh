#!/usr/bin/env bash
# Builds an English text corpus (about 70 MB) for language-modelling studies from pinned Debian packages, and
# splits it by document into train/validation/test (docs/data.md, "The corpus"):
#
#   dict-gcide      GNU Collaborative International Dictionary of English (Webster 1913 + WordNet)
#   dict-foldoc     Free On-line Dictionary of Computing
#   linux-doc-6.1   the Linux kernel's Documentation/ (reStructuredText sources)
#   python3.11-doc  the Python 3.11 documentation (reStructuredText sources)
#
# Documents: a dictionary gives one document per first two letters of its headwords (gcide--ab.txt), the
# manuals one per source page. Cheap markup stripping only: dictionary source tags ([1913 Webster]) and
# cross-reference braces, reST labels, directives, section underlines and role/backtick markup.
# A document goes to train, val or test by the SHA-256 of its name (first 8 hex digits mod 100: < 90 train,
# < 95 val, else test), so about 90/5/5 by bytes, stable as packages change. Writes OUTDIR/{train,val,test}/
# *.txt and OUTDIR/MANIFEST (packages with versions and .deb SHA-256, then "split bytes document" per line)
# and prints the totals. The same package versions give the same bytes. Needs apt-get and dpkg (no root).
#
# Usage: tools/make-corpus.sh [OUTDIR] [--archive]   (OUTDIR default data/corpus)
#   --archive  also writes OUTDIR.tar.xz (reproducible: sorted names, fixed owner and mtime, xz -9 -T1), for
#              shipping the corpus to a machine with an upload limit.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

out=data/corpus
archive=0
for arg in "$@"; do
  case "$arg" in
    --archive) archive=1 ;;
    -*) echo "make-corpus.sh: unknown option '$arg' (expected [OUTDIR] [--archive])" >&2; exit 2 ;;
    *) out="$arg" ;;
  esac
done
out="${out%/}"

# Pinned versions (Debian 12 "bookworm"): change them only together with the totals in docs/data.md.
packages=(dict-gcide=0.48.5+nmu2 dict-foldoc=20230119-1 linux-doc-6.1=6.1.192-3 python3.11-doc=3.11.2-6+deb12u9)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/x" "$work/docs"
(cd "$work/debs" && apt-get download -q "${packages[@]}" >/dev/null 2>&1) || {
  echo "make-corpus.sh: apt-get download ${packages[*]} failed (are these versions still in the archive?)" >&2
  exit 1
}
for deb in "$work"/debs/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  dpkg -x "$deb" "$work/x/$name"
done

# Dictionaries (dictd format, one entry = a headword line at column 0 and its indented body): grouped into
# documents by the first two letters of the headword.
split_dictionary() {  # split_dictionary PREFIX FILE.dict.dz
  zcat "$2" | awk -v dir="$work/docs" -v prefix="$1" '
    function group(line,   k) {
      k = tolower(substr(line, 1, 2))
      if (k ~ /^[a-z][a-z]$/) return k
      if (k ~ /^[a-z]/) return substr(k, 1, 1) "_"
      return "00"
    }
    /^[ \t]*\[[^]]*\][ \t]*$/ { next }                  # source tags: [1913 Webster], [WordNet 1.5], [PJC]
    {
      if (blank && $0 ~ /^[^ \t]/) {
        g = group($0)
        if (g != current) { if (file != "") close(file); current = g; file = dir "/" prefix "--" g ".txt" }
      }
      if (file == "") { current = "00"; file = dir "/" prefix "--00.txt" }
      gsub(/[{}]/, "")
      print >> file
      blank = ($0 ~ /^[ \t]*$/)
    }
    BEGIN { blank = 1 }'
}
split_dictionary gcide "$work/x/dict-gcide/usr/share/dictd/gcide.dict.dz"
split_dictionary foldoc "$work/x/dict-foldoc/usr/share/dictd/foldoc.dict.dz"

# Manuals: the reStructuredText source of every page, one document each, named after its path.
strip_rst() {  # strip_rst PREFIX ROOT (reads the file list on stdin)
  xargs -0 awk -v dir="$work/docs" -v prefix="$1" -v root="$2/" '
    FNR == 1 {
      if (file != "") close(file)
      name = substr(FILENAME, length(root) + 1)
      sub(/\.rst\.txt$/, "", name)
      gsub(/[^A-Za-z0-9._-]/, "_", name)
      file = dir "/" prefix "--" name ".txt"
      skipping = 0
    }
    /^\.\. / { skipping = 1; next }                       # comments, labels, directives (and their options)
    skipping && /^[ \t]+:/ { next }
    /^[ \t]*$/ { skipping = 0 }
    /^[=~^*#"+`:.'"'"'_-]+[ \t]*$/ { next }              # section over/underlines
    {
      gsub(/:[a-zA-Z:+-]+:`/, "`")                        # :ref:`text <label>` -> `text <label>`
      gsub(/ <[^<>`]*>`/, "`")                            #                     -> `text`
      gsub(/`+_?/, "")
      gsub(/\|[a-zA-Z0-9_-]+\|/, "")                     # substitution references
      print > file
    }'
}
strip_manual() {  # strip_manual PREFIX ROOT
  find "$2" -type f -name '*.rst.txt' -print0 | sort -z | strip_rst "$1" "$2"
}
strip_manual linux "$work/x/linux-doc-6.1/usr/share/doc/linux-doc-6.1/html/_sources"
strip_manual python "$work/x/python3.11-doc/usr/share/doc/python3.11/html/_sources"

# Assign documents to splits by the hash of their names; write the manifest.
rm -rf "$out"
mkdir -p "$out/train" "$out/val" "$out/test"
manifest="$out/MANIFEST"
{
  echo "# lat corpus, written by tools/make-corpus.sh. Packages (name version sha256-of-.deb):"
  for deb in "$work"/debs/*.deb; do
    echo "package $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) $(sha256sum "$deb" | cut -d' ' -f1)"
  done
  echo "# split bytes document"
} > "$manifest"
declare -A total=([train]=0 [val]=0 [test]=0) count=([train]=0 [val]=0 [test]=0)
while IFS= read -r -d '' path; do
  doc=$(basename "$path")
  bytes=$(wc -c < "$path")
  [ "$bytes" -gt 0 ] || continue
  bucket=$(( 16#$(printf '%s' "$doc" | sha256sum | cut -c1-8) % 100 ))
  if [ "$bucket" -lt 90 ]; then split=train; elif [ "$bucket" -lt 95 ]; then split=val; else split=test; fi
  mv "$path" "$out/$split/$doc"
  echo "$split $bytes $doc" >> "$manifest"
  total[$split]=$(( total[$split] + bytes ))
  count[$split]=$(( count[$split] + 1 ))
done < <(find "$work/docs" -type f -print0 | sort -z)
all=$(( total[train] + total[val] + total[test] ))
for s in train val test; do
  line=$(printf '%-5s %4d documents %11d bytes (%.1f%%)' "$s" "${count[$s]}" "${total[$s]}" \
           "$(awk -v a="${total[$s]}" -v b="$all" 'BEGIN { print 100 * a / b }')")
  echo "# total $line" >> "$manifest"
  echo "make-corpus: $line"
done
echo "make-corpus: $all bytes in $out (manifest: $manifest)"

if [ "$archive" -eq 1 ]; then
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$(dirname "$out")" -cf - "$(basename "$out")" |
    xz -9 -T1 > "$out.tar.xz.tmp"
  mv "$out.tar.xz.tmp" "$out.tar.xz"
  echo "make-corpus: wrote $out.tar.xz ($(wc -c < "$out.tar.xz") bytes)"
fi
