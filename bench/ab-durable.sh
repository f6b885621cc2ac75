#!/usr/bin/env bash
# Before and after against the durable limit, in one run: the durable
# baseline, enneo-edge built at REV (before) and enneo-edge of the work
# tree (after), each its own process with a fresh database, interleaved
# durable, before, after, ROUNDS times per load (1,000/s, 5,000/s,
# saturation at 128 connections), with each process's CPU per call.
#
#   bench/ab-durable.sh 03a088b        # ROUNDS=2 DUR=8s by default
#   ROUNDS=3 DUR=10s bench/ab-durable.sh main
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bench/ab-durable.sh REV}
ROUNDS=${ROUNDS:-2}
DUR=${DUR:-8s}
TOKEN=bench-token-0123456789abcdef
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir "$work/before-src"
git archive "$rev" | tar -x -C "$work/before-src"
(cd "$work/before-src" && go build -o "$work/before" .)
go build -o "$work/after" .
go build -o "$work/durable" ./bench/baseline/durable

declare -A URL PID
start() { # start NAME CMD...
  local name=$1; shift
  "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  PID[$name]=$!
  for _ in $(seq 100); do
    URL[$name]=$(grep -o 'http://[0-9.:]*' "$work/$name.out" | head -1 || true)
    [ -z "${URL[$name]}" ] || return 0
    sleep 0.1
  done
  echo "$name did not start:" >&2; cat "$work/$name.out" >&2; exit 1
}
for v in before after; do
  printf '[server]\nlisten = "127.0.0.1:0"\n[storage]\npath = "%s"\n[auth]\ntokens = ["%s"]\n' "$work/$v.db" "$TOKEN" >"$work/$v.toml"
done
start durable "$work/durable" -listen 127.0.0.1:0 -file "$work/durable.log"
start before "$work/before" serve -config "$work/before.toml"
start after "$work/after" serve -config "$work/after.toml"
bench() { "$work/after" bench -disposable -token "$TOKEN" "$@"; }
for v in durable before after; do bench -url "${URL[$v]}" -rate 500 -duration 2s >/dev/null 2>&1; done # warm-up

echo "before = $rev, after = the work tree; $(date -u '+%Y-%m-%d %H:%M UTC'); $(uptime)"
tk=$(getconf CLK_TCK)
for rate in 1000 5000 0; do
  for round in $(seq "$ROUNDS"); do
    for v in durable before after; do
      c=64; [ "$rate" = 0 ] && c=128
      f="$work/$v-$rate-$round.json"
      t0=$(awk '{ print $14 + $15 }' "/proc/${PID[$v]}/stat")
      bench -url "${URL[$v]}" -rate "$rate" -concurrency "$c" -duration "$DUR" -json >"$f" 2>/dev/null || true
      t1=$(awk '{ print $14 + $15 }' "/proc/${PID[$v]}/stat")
      python3 -c "
import json; r = json.load(open('$f'))['results'][0]; l = r['latencyMs']
cpu = ($t1 - $t0) / $tk / max(r['ok'], 1) * 1e6
print(f'$v rate=$rate round=$round calls/s={r[\"throughputPerSecond\"]:.0f} p50={l[\"p50\"]:.3f} p99={l[\"p99\"]:.3f} errors={sum(r[\"errors\"].values())} cpu_us_per_call={cpu:.0f}')"
    done
  done
  uptime
done
