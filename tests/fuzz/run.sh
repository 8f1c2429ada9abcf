#!/bin/sh
# Runs the libFuzzer harnesses (build/fuzz/fuzz_<name>) and prints, per harness, the
# executions, the coverage (cov: edges, ft: features, from libFuzzer's final status
# line), the corpus size and the crashes.
#   run.sh --seconds N [--only a,b] name...   each harness N seconds on its working corpus,
#       build/fuzz/run/<name>/corpus (the checked-in corpus copied in; what the fuzzer
#       finds is kept there between runs), crashes in build/fuzz/run/<name>/artifacts
#   run.sh --runs R ...                      also stop each after R executions (whichever
#       of N seconds and R executions comes first)
#   run.sh --ci --seconds N name...           each N seconds on the checked-in corpus
#       (read only: new inputs go to a temporary directory)
#   run.sh --merge name...                   adds to the checked-in corpus the inputs of
#       the working corpus that reach coverage it lacks (libFuzzer's -merge=1), so that a
#       long run's progress outlives build/ (a later run, on another machine, goes on
#       from there); prints the files added
# Exit status 1 if any harness crashed.  Reproduce a crash: build/fuzz/fuzz_<name> <file>.
set -u
cd "$(dirname "$0")/../.."
ci=0 seconds=60 only= runs=-1 merge=0
while [ $# -gt 0 ]; do
    case "$1" in
    --ci) ci=1 ;;
    --merge) merge=1 ;;
    --seconds) seconds=$2; shift ;;
    --only) only=$2; shift ;;
    --runs) runs=$2; shift ;;
    *) break ;;
    esac
    shift
done
[ $# -gt 0 ] || { echo "run.sh: no harness named" >&2; exit 2; }

if [ $merge = 1 ]; then
    for name in "$@"; do
        bin=build/fuzz/fuzz_$name seeds=tests/fuzz/corpus/$name work=build/fuzz/run/$name
        [ -x "$bin" ] || { echo "run.sh: $bin is not built (make fuzz-build)" >&2; exit 2; }
        [ -d "$work/corpus" ] || { echo "$name: no working corpus ($work/corpus): nothing to merge"; continue; }
        before=$(ls "$seeds" | wc -l)
        set --
        [ -f "tests/fuzz/$name.flags" ] && set -- $(cat "tests/fuzz/$name.flags")
        "$bin" -merge=1 "$@" "$seeds" "$work/corpus" >"$work/merge.log" 2>&1 ||
            { echo "run.sh: merging $name failed (log: $work/merge.log)" >&2; exit 1; }
        echo "$name: $(( $(ls "$seeds" | wc -l) - before )) inputs added to $seeds ($before before)"
    done
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xenapid-fuzz-run.XXXXXX") || exit 2
# a signal ends the run, the harness running too (a trap that only cleaned up went on
# to the next harness; the shell takes a signal only in wait, not while a foreground
# child runs)
child=
trap 'rm -rf "$tmp"' EXIT
trap '[ -n "$child" ] && kill "$child" 2>/dev/null; exit 130' INT TERM
# the harnesses' own temporary directories, gone with this one even after a crash
mkdir "$tmp/tmp" && export TMPDIR="$tmp/tmp"
failed=
printf '%-10s %12s %8s %8s %8s %8s  %s\n' harness execs cov ft corpus crashes seconds
for name in "$@"; do
    if [ -n "$only" ]; then
        case ",$only," in *",$name,"*) ;; *) continue ;; esac
    fi
    bin=build/fuzz/fuzz_$name seeds=tests/fuzz/corpus/$name
    [ -x "$bin" ] || { echo "run.sh: $bin is not built (make fuzz-build)" >&2; exit 2; }
    [ -d "$seeds" ] || { echo "run.sh: no corpus $seeds" >&2; exit 2; }
    set --
    [ -f "tests/fuzz/dict/$name.dict" ] && set -- "-dict=tests/fuzz/dict/$name.dict"
    [ -f "tests/fuzz/$name.flags" ] && set -- "$@" $(cat "tests/fuzz/$name.flags")
    if [ $ci = 1 ]; then
        work=$tmp/$name
        mkdir -p "$work/new" "$work/artifacts"
        dirs="$work/new $seeds"
    else
        work=build/fuzz/run/$name
        mkdir -p "$work/corpus" "$work/artifacts"
        cp -n "$seeds"/* "$work/corpus/" 2>/dev/null
        dirs=$work/corpus
    fi
    log=$work/log
    start=$(date +%s)
    # shellcheck disable=SC2086  # dirs is a list of paths without blanks
    "$bin" -max_total_time="$seconds" -runs="$runs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$@" $dirs >"$log" 2>&1 &
    child=$!
    wait "$child"
    rc=$?
    child=
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    status=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
    cov=$(echo "$status" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$status" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$status" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    crashes=$(find "$work/artifacts" -type f | wc -l)
    # died without an artifact: a crash, unless a signal sent to the harness itself (to
    # end a long run early) stopped it, which libFuzzer says in its log
    stopped=
    if [ $rc -ne 0 ] && [ "$crashes" -eq 0 ]; then
        if grep -q 'libFuzzer: run interrupted' "$log"; then
            stopped="  (stopped by a signal)"
        else
            crashes=1
        fi
    fi
    printf '%-10s %12s %8s %8s %8s %8s  %s%s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
        "${corp:-?}" "$crashes" "$took" "$stopped"
    if [ "$crashes" -ne 0 ]; then
        failed="$failed $name"
        grep -E 'ERROR|SUMMARY|check failed|^fuzz:' "$log" | head -n 5 | sed 's/^/    /'
        if [ $ci = 1 ]; then
            for f in "$work/artifacts"/*; do
                [ -f "$f" ] && echo "    reproducer (base64): $(base64 -w0 "$f" | head -c 2000)"
            done
        else
            echo "    log: $log; artifacts: $work/artifacts/"
        fi
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: crashes in:$failed"
    exit 1
fi
