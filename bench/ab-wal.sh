#!/usr/bin/env bash
# The write-ahead log A/B in BENCHMARKS.md: storage.wal on and off, same
# binary, a fresh database each, interleaved (on, off, on, off) so the
# disk's drift hits both alike, a warm-up run before each measured one.
#
#   bench/ab-wal.sh                         # RATES="100 300 1000 5000" DUR=10s
#   RATES=0 bench/ab-wal.sh                 # 0: saturation, closed model
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-100 300 1000 5000}
DUR=${DUR:-10s}
TOKEN=bench-token-0123456789abcdef
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/enneo-edge" .
port=$((20000 + RANDOM % 20000))
for rate in $RATES; do
  for round in 1 2; do
    for wal in true false; do
      rm -f "$work"/edge.db*
      printf '[server]\nlisten = "127.0.0.1:%s"\n[storage]\npath = "%s/edge.db"\nwal = %s\n[auth]\ntokens = ["%s"]\n' \
        "$port" "$work" "$wal" "$TOKEN" >"$work/edge.toml"
      "$work/enneo-edge" serve -config "$work/edge.toml" >"$work/serve.log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
      args=(-disposable -url "http://127.0.0.1:$port" -token "$TOKEN" -rate "$rate")
      [ "$rate" = 0 ] && args+=(-concurrency 128)
      "$work/enneo-edge" bench "${args[@]}" -duration 5s >/dev/null
      printf 'rate %s round %s wal=%-5s ' "$rate" "$round" "$wal"
      "$work/enneo-edge" bench "${args[@]}" -duration "$DUR" | grep -E 'throughput|latency p(50|99) ' | tr -s ' ' | tr '\n' ' '
      echo
      kill "$pid"; wait "$pid" || true; pid=
    done
  done
done
