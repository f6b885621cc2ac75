#!/usr/bin/env bash
# Reproduces every number in BENCHMARKS.md: builds enneo-edge and the two
# baselines, starts each as its own process on a loopback port with a fresh
# database (fsync on), and measures them one after another with
# `enneo-edge bench` (a separate process). Results land in $OUT as JSON,
# a summary with ratios against the baselines is printed at the end.
#
#   bench/compare.sh                     # DUR=10s per run
#   DUR=30s OUT=/tmp/results bench/compare.sh
#   BIGDB=/tmp/big.db bench/compare.sh   # also: start-up time on a seeded database
#                                        # (go run ./bench/seed -db /tmp/big.db)
#   VEGETA=$(go env GOPATH)/bin/vegeta bench/compare.sh   # also: cross-check with vegeta
#   WRK=$(command -v wrk) bench/compare.sh                 # also: cross-check with wrk at a fixed rate
#
# Targets: durable (the limit: append the body to a preallocated file,
# answer once a shared fdatasync covers it), fixed (ceiling: stores
# nothing), edge (defaults: write-ahead log), floor (edge with nothing
# fsynced, bench/profile -floor: what the call domain and bbolt cost with
# durability free, the bound of any log design), edgesync (storage.wal =
# false: bbolt fsyncs every commit itself), nethttp (plain). The summary
# starts with every target as a ratio to durable in the same run, as a
# markdown table ready to paste into BENCHMARKS.md.
#
#   TARGETS="durable edge" bench/compare.sh   # only these (durable must be one)
#   CLUSTER=1 TARGETS="durable edge cluster clusterf" bench/compare.sh
#                                             # also a 3-member cluster: calls to its
#                                             # leader (cluster) and to a follower (clusterf)
#   PLOT=0 bench/compare.sh                   # skip the 500/s plot of edge vs nethttp
#   GENSWEEP="500 2000 10000" bench/compare.sh # also: durable and fixed at each
#                                              # rate (what the generator costs)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10s}
OUT=${OUT:-$(mktemp -d)}
CONC=${CONC:-64}
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

{ date -u '+run started %Y-%m-%d %H:%M UTC'; uptime; nproc; } | tee "$OUT/machine-start.txt"
go run ./bench/probe -dir "$work" | tee "$OUT/probe.txt"
go build -o "$work/enneo-edge" .
go build -o "$work/fixed" ./bench/baseline/fixed
go build -o "$work/nethttp" ./bench/baseline/nethttp
go build -o "$work/durable" ./bench/baseline/durable
go build -o "$work/profile" ./bench/profile
TOKEN=bench-token-0123456789abcdef

# start NAME CMD...: runs CMD in the background and sets URL_NAME from the
# "listening on http://..." line it prints.
start() {
  local name=$1; shift
  GODEBUG=gctrace=1 "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr" &
  pids+=($!)
  eval "PID_$name=$!" # the target itself: start runs it directly, not through a shell
  for _ in $(seq 100); do
    if url=$(grep -o 'http://[0-9.:]*' "$OUT/$name.stdout" 2>/dev/null | head -1) && [ -n "$url" ]; then
      eval "URL_$name=$url"; return
    fi
    sleep 0.1
  done
  echo "$name did not start:"; cat "$OUT/$name.stdout" "$OUT/$name.stderr"; exit 1
}

cat >"$work/edge.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
path = "$work/edge.db"
[auth]
tokens = ["$TOKEN"]
TOML
start edge "$work/enneo-edge" serve -config "$work/edge.toml"
sed -e "s#$work/edge.db#$work/edgesync.db#" -e 's#^\[storage\]#[storage]\nwal = false#' "$work/edge.toml" >"$work/edgesync.toml"
start edgesync "$work/enneo-edge" serve -config "$work/edgesync.toml"
sed -e "s#$work/edge.db#$work/floor.db#" "$work/edge.toml" >"$work/floor.toml"
start floor "$work/profile" -floor -pprof 127.0.0.1:0 -config "$work/floor.toml"
start fixed "$work/fixed" -listen 127.0.0.1:0
start nethttp "$work/nethttp" -listen 127.0.0.1:0 -db "$work/plain.db"
start delay "$work/fixed" -listen 127.0.0.1:0 -delay 2ms
start durable "$work/durable" -listen 127.0.0.1:0 -file "$work/durable.log"

# CLUSTER=1: three members of one cluster on this machine (each with its
# own database and raft log on the same disk), targets cluster (calls to
# the leader) and clusterf (calls to a follower, which forwards them).
if [ "${CLUSTER:-0}" = 1 ]; then
  ports=($(python3 -c 'import socket
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'))
  peers="\"cl-a=127.0.0.1:${ports[0]}\", \"cl-b=127.0.0.1:${ports[1]}\", \"cl-c=127.0.0.1:${ports[2]}\""
  i=0
  for n in a b c; do
    cat >"$work/cl-$n.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[storage]
path = "$work/cl-$n.db"
[auth]
tokens = ["$TOKEN"]
[cluster]
node = "cl-$n"
listen = "127.0.0.1:${ports[$i]}"
peers = [$peers]
secret = "bench-cluster-secret-0123456789abcdef"
TOML
    start "cl_$n" "$work/enneo-edge" serve -config "$work/cl-$n.toml"
    i=$((i + 1))
  done
  leader=
  for _ in $(seq 100); do
    for n in a b c; do
      u=URL_cl_$n
      role=$(curl -s -H "Authorization: Bearer $TOKEN" "${!u}/edge/v1/cluster" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("role",""))' 2>/dev/null || true)
      [ "$role" = leader ] && leader=$n
    done
    [ -n "$leader" ] && break
    sleep 0.2
  done
  [ -n "$leader" ] || { echo "the cluster elected no leader"; exit 1; }
  follower=a; [ "$leader" = a ] && follower=b
  lu=URL_cl_$leader fu=URL_cl_$follower lp=PID_cl_$leader fp=PID_cl_$follower
  URL_cluster=${!lu} URL_clusterf=${!fu} PID_cluster=${!lp} PID_clusterf=${!fp}
  echo "cluster: leader cl-$leader $URL_cluster, follower cl-$follower $URL_clusterf"
fi

bench() { "$work/enneo-edge" bench -disposable -token "$TOKEN" -json "$@"; }
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user + system, in clock ticks
run() { # [CPU_PID=pid] run FILE ARGS...: one target, JSON to $OUT/FILE.json
  local file=$1; shift
  echo "== $file" >&2
  local t0=
  [ -z "${CPU_PID:-}" ] || t0=$(cputicks "$CPU_PID")
  # A target that fails most calls (a baseline past its limit) is a result,
  # not the end of the comparison: bench exits non-zero, the JSON is kept.
  bench "$@" >"$OUT/$file.json" || echo "   ($file: most calls failed; kept as measured)" >&2
  # The target's CPU during the run (a target process serves nothing else).
  [ -z "$t0" ] || echo "$(( $(cputicks "$CPU_PID") - t0 )) $(getconf CLK_TCK)" >"$OUT/$file.cpu"
}

# Saturation at each concurrency in SATCONC; a target's saturation is its
# best. Group commit needs callers in flight to fill its batches, the fixed
# body does not, so one concurrency alone would favour one of them.
for c in ${SATCONC:-64 256}; do
  for t in ${TARGETS:-durable fixed edge floor edgesync nethttp}; do
    url=URL_$t pid=PID_$t
    CPU_PID=${!pid} run "saturation-$t-c$c" -url "${!url}" -name "$t" -rate 0 -concurrency "$c" -duration "$DUR"
  done
done
# durable runs twice at each rate, before and after the others, and the
# ratios use the mean of both: the machine drifts during a run (other
# jobs on the same cores and disk), and a limit measured once at the
# start would credit or charge that drift to the targets after it.
for rate in 1000 5000; do
  for t in ${TARGETS:-durable fixed edge floor edgesync nethttp} durable2; do
    url=URL_${t%2} pid=PID_${t%2}
    CPU_PID=${!pid} run "rate$rate-$t" -url "${!url}" -name "$t" -rate "$rate" -concurrency "$CONC" -duration "$DUR"
  done
done
# What the generator costs: the two baselines at each rate of GENSWEEP.
# fixed stores nothing, so its p99 at a rate is what the generator and
# the loopback add on these two cores; durable adds the disk.
for rate in ${GENSWEEP:-}; do
  for t in durable fixed; do
    url=URL_$t
    run "gensweep$rate-$t" -url "${!url}" -name "$t" -rate "$rate" -concurrency "$CONC" -duration "$DUR"
  done
done
# The plot: edge and the plain approach on one schedule.
[ "${PLOT:-1}" = 0 ] || "$work/enneo-edge" bench -disposable -token "$TOKEN" -url "$URL_edge" -name enneo-edge -compare "$URL_nethttp" -name2 "net/http+bbolt baseline" \
  -rate 500 -concurrency "$CONC" -duration "$DUR" -out "$OUT/plot.svg" >"$OUT/plot.txt"

# Heap under sustained load: the Go runtime's own account (gctrace), the
# largest heap at any GC during the runs above, and the process's RSS.
awk '/^gc [0-9]/ { split($0, a, " MB"); n = split(a[1], f, "->"); for (i = 1; i <= n; i++) { sub(/.* /, "", f[i]); if (f[i] + 0 > m) m = f[i] + 0 } } END { print m }' \
  "$OUT/edge.stderr" >"$OUT/edge-heap-peak-mb.txt"
grep VmHWM /proc/"$PID_edge"/status >"$OUT/edge-rss.txt" || true

if [ -n "${VEGETA:-}" ]; then
  # The same target, rate and kind of bodies (each with its own channelId),
  # measured by vegeta and by enneo-edge bench in the order bench, vegeta,
  # vegeta, bench, so a drift of the machine during the runs cancels out.
  vegeta_run() { # vegeta_run NAME URL FILE
    "$work/enneo-edge" bench -disposable -token "$TOKEN" -url "$2" -rate 1000 -duration "$DUR" -vegeta-targets "$work/targets.jsonl"
    echo "== $3" >&2
    "$VEGETA" attack -format json -targets "$work/targets.jsonl" -rate 1000 -duration "$DUR" -max-workers "$CONC" \
      | "$VEGETA" report -type json >"$OUT/$3.json"
  }
  for t in delay fixed edge; do
    url=URL_$t
    run "agree-$t-bench-1" -url "${!url}" -name "$t" -rate 1000 -concurrency "$CONC" -duration "$DUR"
    vegeta_run "$t" "${!url}" "agree-$t-vegeta-1"
    vegeta_run "$t" "${!url}" "agree-$t-vegeta-2"
    run "agree-$t-bench-2" -url "${!url}" -name "$t" -rate 1000 -concurrency "$CONC" -duration "$DUR"
  done
fi

if [ -n "${WRK:-}" ]; then
  # wrk paces each of 100 connections (bench/wrk/fixed-rate.lua) to about
  # 1000 calls/s in all; enneo-edge bench then runs at the rate wrk
  # achieved with the same body (bench/wrk/mix.jsonl). Order wrk, bench,
  # bench, wrk, as above.
  wrk_run() { # wrk_run URL FILE
    echo "== $2" >&2
    WRK_RATE=1000 WRK_CONNS=100 WRK_TOKEN=$TOKEN "$WRK" -t2 -c100 -d"$DUR" --latency -s bench/wrk/fixed-rate.lua \
      "$1/api/mind/telephony/callReceived" >"$OUT/$2.txt"
  }
  for t in delay edge; do
    url=URL_$t
    wrk_run "${!url}" "agree-$t-wrk-1"
    rate=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$OUT/agree-$t-wrk-1.txt")
    run "agree-$t-wbench-1" -url "${!url}" -name "$t" -rate "$rate" -concurrency "$CONC" -duration "$DUR" -mix bench/wrk/mix.jsonl
    run "agree-$t-wbench-2" -url "${!url}" -name "$t" -rate "$rate" -concurrency "$CONC" -duration "$DUR" -mix bench/wrk/mix.jsonl
    wrk_run "${!url}" "agree-$t-wrk-2"
  done
fi

if [ -n "${BIGDB:-}" ]; then
  # Start-up: from exec to the "listening" line, on a copy of the seeded
  # database (the copy keeps the seed pristine), three times.
  cp "$BIGDB" "$work/big.db"
  sync "$work/big.db" # else the first start's commit flushes the whole copy
  sed "s#$work/edge.db#$work/big.db#" "$work/edge.toml" >"$work/big.toml"
  : >"$OUT/startup-ms.txt"
  for i in 1 2 3; do
    : >"$work/big.out"
    t0=$(date +%s%N)
    "$work/enneo-edge" serve -config "$work/big.toml" >>"$work/big.out" 2>&1 &
    p=$!
    until grep -q listening "$work/big.out"; do
      kill -0 "$p" 2>/dev/null || { cat "$work/big.out" >&2; exit 1; } # it refused to start
      sleep 0.005
    done
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 )) >>"$OUT/startup-ms.txt"
    kill "$p"; wait "$p" || true
  done
fi

{ date -u '+run ended %Y-%m-%d %H:%M UTC'; uptime; } >"$OUT/machine.txt"
python3 bench/summarize.py "$OUT"
