#!/usr/bin/env bash
# Several enneo-edge builds against the durable limit in one run: the
# durable baseline and each NAME=BINARY (optionally :ENV=VALUE for its
# environment), each its own process with a fresh database, interleaved
# per round (durable first), ROUNDS times per rate in RATES (0 is
# saturation at 128 connections), with each process's CPU per call. For
# variants that are not a git revision (ab-durable.sh takes those): a
# build with a constant changed, a prototype branch.
#
#   bench/ab-builds.sh old=/tmp/edge-old new=/tmp/edge-new
#   ROUNDS=3 RATES="1000" bench/ab-builds.sh a=/tmp/a b=/tmp/b
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}; DUR=${DUR:-8s}; RATES=${RATES:-"1000 5000 0"}
TOKEN=bench-token-0123456789abcdef
work=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
declare -A URL PID
start() { local name=$1; shift
  "$@" >"$work/$name.out" 2>&1 & pids+=($!); PID[$name]=$!
  for _ in $(seq 100); do URL[$name]=$(grep -o 'http://[0-9.:]*' "$work/$name.out" | head -1 || true); [ -z "${URL[$name]}" ] || return 0; sleep 0.1; done
  echo "$name did not start" >&2; cat "$work/$name.out" >&2; exit 1; }
go build -o "$work/durable-bin" ./bench/baseline/durable
start durable "$work/durable-bin" -listen 127.0.0.1:0 -file "$work/durable.log"
names=(durable); benchbin=
for spec in "$@"; do
  name=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; envs=; [[ $rest == *:* ]] && envs=${rest#*:}
  benchbin=${benchbin:-$bin}
  printf '[server]\nlisten = "127.0.0.1:0"\n[storage]\npath = "%s"\n[auth]\ntokens = ["%s"]\n' "$work/$name.db" "$TOKEN" >"$work/$name.toml"
  start $name env $envs $bin serve -config "$work/$name.toml"; names+=($name)
done
bench() { "$benchbin" bench -disposable -token "$TOKEN" "$@"; }
for v in "${names[@]}"; do bench -url "${URL[$v]}" -rate 500 -duration 2s >/dev/null 2>&1; done
echo "$(date -u '+%H:%M UTC') $(uptime)"
tk=$(getconf CLK_TCK)
for rate in $RATES; do for round in $(seq "$ROUNDS"); do for v in "${names[@]}"; do
  c=64; [ "$rate" = 0 ] && c=128; f="$work/$v-$rate-$round.json"
  t0=$(awk '{ print $14 + $15 }' "/proc/${PID[$v]}/stat")
  bench -url "${URL[$v]}" -rate "$rate" -concurrency "$c" -duration "$DUR" -json >"$f" 2>/dev/null || true
  t1=$(awk '{ print $14 + $15 }' "/proc/${PID[$v]}/stat")
  python3 -c "
import json; r = json.load(open('$f'))['results'][0]; l = r['latencyMs']
cpu = ($t1 - $t0) / $tk / max(r['ok'], 1) * 1e6
print(f'$v rate=$rate round=$round calls/s={r[\"throughputPerSecond\"]:.0f} p50={l[\"p50\"]:.3f} p90={l[\"p90\"]:.3f} p99={l[\"p99\"]:.3f} errors={sum(r[\"errors\"].values())} cpu_us_per_call={cpu:.0f}')"
done; done; done
uptime
