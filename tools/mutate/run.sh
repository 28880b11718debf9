#!/usr/bin/env bash
# Mutation testing for lat: apply one realistic one-line mistake at a time, rebuild the tests incrementally and
# check that the tests named for it fail. docs/testing.md explains the catalogue and the habit.
#
#   tools/mutate/run.sh                 every mutation in tools/mutate/catalogue.tsv
#   tools/mutate/run.sh --sample        the fixed CI sample (tools/mutate/sample.txt); fails if one survives
#   tools/mutate/run.sh --ids a,b,c     only these ids;  --layer optim   only one layer
#   options: --jobs N (ninja -j, default 2)  --timeout S (per test run, default 300)  --build-dir DIR
#            --no-baseline (skip checking that the named tests pass without the mutation)  --list
#            --tag NAME (results in DIR/results-NAME.tsv)
#
# The mutants are built from a mirror of the working tree (DIR/src, default build-mutate/), so the working tree
# and its build/ are never touched. In the mirror, each mutation copies its file aside, applies the replacement
# (the pattern must occur exactly once, else it is an error), rebuilds, runs the named doctest cases with a
# timeout and restores the file (a trap restores it on any exit). Results: DIR/results.tsv (a "failing" column
# names the test cases that failed), logs in DIR/logs/.
#
# Catalogue columns (tab-separated; '#' lines are comments):
#   id  layer  file  pattern  replacement  tests  rationale
# tests: doctest -tc= globs, comma-separated, for lat_tests; prefixed "mpi:" they are lat_mpi_tests cases (needs
# MPI). In pattern and replacement, \t stands for a tab and \n for a newline (rarely needed).
# Exit status: 0 when every mutation was killed or is marked equivalent (layer column ends in "=equivalent"),
# 1 when one survived, could not be applied, did not compile or named no test.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
catalogue=$repo/tools/mutate/catalogue.tsv
sample_file=$repo/tools/mutate/sample.txt
dir=$repo/build-mutate
jobs=2 timeout_s=300 ids="" layer="" baseline=1 list=0 tag=""

die() { echo "mutate: $*" >&2; exit 2; }
while (($#)); do
  case $1 in
    --sample) ids=$(grep -v '^#' "$sample_file" | tr -s ' \n' ',' | sed 's/^,//; s/,$//') ;;
    --ids) [[ $# -ge 2 ]] || die "--ids: needs a comma-separated list"; ids=$2; shift ;;
    --layer) [[ $# -ge 2 ]] || die "--layer: needs a layer name"; layer=$2; shift ;;
    --jobs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--jobs: needs a positive integer"; jobs=$2; shift ;;
    --timeout) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--timeout: needs a positive integer"; timeout_s=$2; shift ;;
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir: needs a folder"; dir=$(realpath -m "$2"); shift ;;
    --catalogue) [[ $# -ge 2 ]] || die "--catalogue: needs a file"; catalogue=$(realpath "$2"); shift ;;
    --no-baseline) baseline=0 ;;
    --tag) [[ $# -ge 2 ]] || die "--tag: needs a name"; tag=-$2; shift ;;
    --list) list=1 ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "$1: unknown option (see --help)" ;;
  esac
  shift
done
[[ -f $catalogue ]] || die "$catalogue: no such catalogue"

# --- read the catalogue -----------------------------------------------------------------------------------------
declare -a M_ID M_LAYER M_FILE M_PAT M_REP M_TESTS M_WHY
declare -A seen
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
  lineno=$((lineno + 1))
  [[ -z $line || $line == \#* ]] && continue
  IFS=$'\t' read -r id lay file pat rep tests why extra <<<"$line"
  [[ -n ${why:-} && -z ${extra:-} ]] || die "$catalogue:$lineno: expected 7 tab-separated columns"
  [[ -z ${seen[$id]:-} ]] || die "$catalogue:$lineno: id '$id' is used twice"
  seen[$id]=1
  if [[ -n $ids ]] && [[ ",$ids," != *",$id,"* ]]; then continue; fi
  if [[ -n $layer ]] && [[ ${lay%%=*} != "$layer" ]]; then continue; fi
  M_ID+=("$id"); M_LAYER+=("$lay"); M_FILE+=("$file"); M_PAT+=("$pat"); M_REP+=("$rep"); M_TESTS+=("$tests")
  M_WHY+=("$why")
done <"$catalogue"
if [[ -n $ids ]]; then
  for id in ${ids//,/ }; do [[ -n ${seen[$id]:-} ]] || die "--ids: '$id' is not in the catalogue"; done
fi
((${#M_ID[@]})) || die "no mutation selected"
if ((list)); then
  for i in "${!M_ID[@]}"; do printf '%-28s %-10s %s\n' "${M_ID[$i]}" "${M_LAYER[$i]}" "${M_FILE[$i]}"; done
  exit 0
fi

unescape() { local s=$1; s=${s//\\t/$'\t'}; s=${s//\\n/$'\n'}; printf '%s' "$s"; }
count_occurrences() {  # haystack needle
  local h=$1 n=$2 c=0
  while [[ $h == *"$n"* ]]; do h=${h#*"$n"}; c=$((c + 1)); done
  echo "$c"
}

# --- mirror the working tree and configure ----------------------------------------------------------------------
src=$dir/src build=$dir/build logs=$dir/logs
mkdir -p "$src" "$build" "$logs" "$dir/orig"
echo "mutate: mirroring $repo into $src"
(cd "$repo" && { git ls-files -co --exclude-standard; [[ -d data/kjv ]] && find data/kjv -type f; }) |
  while IFS= read -r f; do
    [[ -f $repo/$f ]] || continue
    if ! cmp -s "$repo/$f" "$src/$f"; then mkdir -p "$src/$(dirname "$f")"; cp -p "$repo/$f" "$src/$f"; fi
  done
need_mpi=0
for t in "${M_TESTS[@]}"; do [[ $t == mpi:* ]] && need_mpi=1; done
if [[ ! -f $build/build.ninja ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLAT_CUDA=OFF "${launcher[@]}" \
    >"$logs/configure.log" 2>&1 || die "cmake failed: $logs/configure.log"
fi
targets=(lat_tests lat-train)
((need_mpi)) && targets+=(lat_mpi_tests)

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Runs the named cases; prints doctest's summary line. Returns the test binary's exit status.
run_tests() {  # tests-spec log
  local spec=$1 log=$2 exe=$build/tests/lat_tests
  if [[ $spec == mpi:* ]]; then spec=${spec#mpi:}; exe=$build/tests/lat_mpi_tests; export OMP_NUM_THREADS=1; fi
  (cd "$src" && timeout -k 10 "$timeout_s" "$exe" -tc="$spec" --no-colors >"$log" 2>&1)
}
count_cases() { grep -o 'test cases: *[0-9]*' "$1" | grep -o '[0-9]*$' | head -1; }
# The test cases with an ERROR (doctest also prints a TEST CASE header above a MESSAGE), joined by ";".
failing_cases() {
  awk '/^TEST CASE:/ { sub(/^TEST CASE: */, ""); name = $0 } /ERROR/ { if (name != "") bad[name] = 1 }
       END { for (n in bad) print n }' "$1" | sort | paste -sd";" -
}

echo "mutate: building ${targets[*]} in $build (unmutated)"
ninja -C "$build" -j"$jobs" "${targets[@]}" >"$logs/build-original.log" 2>&1 ||
  die "the unmutated tree does not build: $logs/build-original.log"
if ((baseline)); then
  declare -A specs=()
  for t in "${M_TESTS[@]}"; do specs[$t]=1; done
  lt="" mt=""
  for t in "${!specs[@]}"; do
    if [[ $t == mpi:* ]]; then mt+=${mt:+,}${t#mpi:}; else lt+=${lt:+,}$t; fi
  done
  for spec in ${lt:+"$lt"} ${mt:+"mpi:$mt"}; do
    echo "mutate: baseline: the named tests pass unmutated (${spec:0:60}...)"
    run_tests "$spec" "$logs/baseline.log" || die "the named tests fail without any mutation: $logs/baseline.log"
  done
fi

# --- one mutation at a time ------------------------------------------------------------------------------------
current=""  # the mirror file being mutated, restored by the trap
restore() {
  if [[ -n $current ]]; then
    cp -p "$dir/orig/current" "$src/$current" && touch "$src/$current"  # touch: the next build recompiles it
    current=""
  fi
}
trap 'restore' EXIT
trap 'restore; exit 130' INT TERM

results=$dir/results$tag.tsv
printf 'id\tlayer\tfile\tstatus\tseconds\ttests\tfailing\n' >"$results"
declare -A killed_by_layer total_by_layer
failed=0 n_killed=0 n_equiv=0
for i in "${!M_ID[@]}"; do
  id=${M_ID[$i]} lay=${M_LAYER[$i]} file=${M_FILE[$i]} tests=${M_TESTS[$i]}
  base_layer=${lay%%=*}
  start=$SECONDS status="" failing=""
  pat=$(unescape "${M_PAT[$i]}") rep=$(unescape "${M_REP[$i]}")
  if [[ ! -f $src/$file ]]; then
    status=no-file
  else
    content=$(cat "$src/$file"; printf x); content=${content%x}
    n=$(count_occurrences "$content" "$pat")
    if [[ $n != 1 ]]; then
      status="pattern-x$n"
    else
      cp -p "$src/$file" "$dir/orig/current"
      current=$file
      printf '%s' "${content/"$pat"/"$rep"}" >"$src/$file"
      if ! ninja -C "$build" -j"$jobs" "${targets[@]}" >"$logs/$id.build.log" 2>&1; then
        status=did-not-compile
      else
        run_tests "$tests" "$logs/$id.test.log"
        rc=$?
        failing=$(failing_cases "$logs/$id.test.log")
        cases=$(count_cases "$logs/$id.test.log")
        if [[ $rc == 124 || $rc == 137 ]]; then status=killed-timeout
        elif [[ $rc != 0 ]]; then status=killed
        elif [[ ${cases:-0} == 0 ]]; then status=no-tests
        else status=survived
        fi
      fi
      restore
    fi
  fi
  secs=$((SECONDS - start))
  total_by_layer[$base_layer]=$((${total_by_layer[$base_layer]:-0} + 1))
  case $status in
    killed*) n_killed=$((n_killed + 1)); killed_by_layer[$base_layer]=$((${killed_by_layer[$base_layer]:-0} + 1)) ;;
    survived)
      if [[ $lay == *=equivalent ]]; then status=equivalent; n_equiv=$((n_equiv + 1)); else failed=1; fi ;;
    *) failed=1 ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$lay" "$file" "$status" "$secs" "$tests" "$failing" >>"$results"
  printf 'mutate: [%d/%d] %-30s %-16s %4ss  %s\n' "$((i + 1))" "${#M_ID[@]}" "$id" "$status" "$secs" "$file"
done

# --- summary ---------------------------------------------------------------------------------------------------
echo
echo "| id | layer | file | status | s |"
echo "|---|---|---|---|---|"
tail -n +2 "$results" | while IFS=$'\t' read -r id lay file status secs tests failing; do
  echo "| $id | $lay | $file | $status | $secs |"
done
echo
echo "| layer | killed | total |"
echo "|---|---|---|"
for l in $(printf '%s\n' "${!total_by_layer[@]}" | sort); do
  echo "| $l | ${killed_by_layer[$l]:-0} | ${total_by_layer[$l]} |"
done
total=${#M_ID[@]}
echo
echo "mutate: $n_killed of $total killed, $n_equiv equivalent (explained in the catalogue), $((total - n_killed - n_equiv)) not killed"
exit "$failed"
