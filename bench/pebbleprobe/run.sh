#!/bin/bash
# Seeds one template store per engine (not timed), then runs every variant
# on a fresh copy of its template, interleaved, twice per load.
# Usage: ./run.sh [results-file]   (env: ROOT=/tmp/pp REPS=2 DUR=10s)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=${ROOT:-/tmp/pp}
REPS=${REPS:-2}
DUR=${DUR:-10s}
OUT=${1:-results.jsonl}
VARIANTS=${VARIANTS:-"bolt-nosync bolt-sync pebble-nosync-loop pebble-sync-loop pebble-nosync-each pebble-sync-each"}
LOADS=${LOADS:-"open closed"}
go build -o probepebble .
mkdir -p "$ROOT"
[ -e "$ROOT/tb.done" ] || { rm -rf "$ROOT/tb"; ./probepebble -engine bolt -dir "$ROOT/tb" seed 2>"$ROOT/tb.seed.txt"; touch "$ROOT/tb.done"; }
[ -e "$ROOT/tp.done" ] || { rm -rf "$ROOT/tp"; ./probepebble -engine pebble -dir "$ROOT/tp" seed 2>"$ROOT/tp.seed.txt"; touch "$ROOT/tp.done"; }
echo "# start $(date -u +%FT%TZ) uptime: $(uptime)" | tee -a "$OUT.log"
for rep in $(seq "$REPS"); do
  for load in $LOADS; do
    for v in $VARIANTS; do
      d="$ROOT/run"
      rm -rf "$d"
      case $v in bolt*) cp -r "$ROOT/tb" "$d" ;; *) cp -r "$ROOT/tp" "$d" ;; esac
      sync "$d"/*   # the copy's writeback must not land in the timed run
      echo "# rep $rep $v $load $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT.log"
      ./probepebble -variant "$v" -load "$load" -dur "$DUR" -dir "$d" run | tee -a "$OUT"
    done
  done
done
rm -rf "$ROOT/run"
echo "# end $(date -u +%FT%TZ) uptime: $(uptime)" | tee -a "$OUT.log"
