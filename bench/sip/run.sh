#!/usr/bin/env bash
# Post-dial delay as the caller hears it: sipp places calls through Kamailio
# with integrations/kamailio/kamailio.cfg (only addresses and token
# substituted) to a sipp next hop that answers at once, and measures INVITE
# sent -> 200 OK received per call: from sipp's message trace (microsecond
# timestamps, bench/sip/pdd.py) and, as a cross-check, sipp's own response
# times (whole ms, in steps of its clock tick). Four runs, one after another
# in one session:
#
#   floor    Kamailio alone: the same config started with -A ENNEO_NO_LOOKUP
#   edge     the lookup against a running enneo-edge
#   stopped  both edge URLs refuse connections (process down): fail open
#   silent   both edge URLs accept and never answer: fail open after the
#            lookup limit, twice (1 s per edge in Kamailio 5.6)
#
# Needs kamailio (+ kamailio-utils-modules, kamailio-extra-modules), sipp
# (sip-tester), python3 (the silent listener) and go. Usage:
#   bench/sip/run.sh [OUT_DIR]   (env: CALLS=2000 RATE=100 SILENT_CALLS=20 SILENT_RATE=2
#                                      RUNS="floor edge stopped silent")
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=${1:-$(mktemp -d /tmp/enneo-sip-bench.XXXXXX)}
mkdir -p "$out"
CALLS=${CALLS:-2000}
RATE=${RATE:-100}
SILENT_CALLS=${SILENT_CALLS:-20}
SILENT_RATE=${SILENT_RATE:-2}
RUNS=${RUNS:-floor edge stopped silent}
TOKEN=sip-bench-token-0123456789
td=$root/tests/pbx/testdata

for tool in kamailio sipp python3 go; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

freeport() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, int(sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
udpport() { freeport 2; }   # SOCK_DGRAM
tcpport() { freeport 1; }   # SOCK_STREAM

echo "== building enneo-edge"
go build -o "$out/enneo-edge" .

edge_port=$(tcpport)
cat > "$out/edge.toml" <<EOF
[server]
listen = "127.0.0.1:$edge_port"
[storage]
path = "$out/edge.db"
[site]
id = 9
[auth]
tokens = ["$TOKEN"]
EOF
rm -f "$out"/edge.db*
"$out/enneo-edge" serve -config "$out/edge.toml" >"$out/edge.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$edge_port/healthz" >/dev/null && break; sleep 0.1; done

# The silent edge: accepts every connection, never reads or answers.
silent_port=$(tcpport)
python3 - "$silent_port" >/dev/null 2>&1 <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
held = []
while True:
    c, _ = s.accept(); held.append(c)
EOF
pids+=($!)
closed_port=$(tcpport)   # nobody listens here: connection refused

next_hop=$(udpport); fail_hop=$(udpport)
sipp -sf "$td/uas.xml" -i 127.0.0.1 -p "$next_hop" -nostdin >"$out/uas.log" 2>&1 &
pids+=($!)
sipp -sf "$td/uas-failopen.xml" -i 127.0.0.1 -p "$fail_hop" -nostdin >"$out/uas-failopen.log" 2>&1 &
pids+=($!)

# kamailio_cfg NAME PRIMARY SECONDARY LISTEN_PORT: the shipped config with the
# site settings replaced.
kamailio_cfg() {
  sed -e "s|^#!substdef \"!SIP_LISTEN!.*|#!substdef \"!SIP_LISTEN!udp:127.0.0.1:$4!g\"|" \
      -e "s|^#!substdef \"!EDGE_PRIMARY!.*|#!substdef \"!EDGE_PRIMARY!$2!g\"|" \
      -e "s|^#!substdef \"!EDGE_SECONDARY!.*|#!substdef \"!EDGE_SECONDARY!$3!g\"|" \
      -e "s|^#!substdef \"!EDGE_TOKEN!.*|#!substdef \"!EDGE_TOKEN!$TOKEN!g\"|" \
      -e "s|^#!substdef \"!NEXT_HOP!.*|#!substdef \"!NEXT_HOP!sip:127.0.0.1:$next_hop!g\"|" \
      -e "s|^#!substdef \"!FAILOPEN_HOP!.*|#!substdef \"!FAILOPEN_HOP!sip:127.0.0.1:$fail_hop!g\"|" \
      "$root/integrations/kamailio/kamailio.cfg" >"$out/$1.cfg"
}

# run NAME PRIMARY SECONDARY CALLS RATE [kamailio args...]
run() {
  local name=$1 primary=$2 secondary=$3 calls=$4 rate=$5; shift 5
  local port; port=$(udpport)
  kamailio_cfg "$name" "$primary" "$secondary" "$port"
  mkdir -p "$out/$name"
  kamailio -f "$out/$name.cfg" -DD -E -Y "$out/$name" -P "$out/$name/k.pid" -m 64 -M 8 "$@" \
    >"$out/$name/kamailio.log" 2>&1 &
  local kpid=$!
  sleep 1.5
  echo "== $name: $calls calls at $rate/s"
  (cd "$out/$name" && sipp "127.0.0.1:$port" -sf "$td/uac.xml" -i 127.0.0.1 -p "$(udpport)" \
    -m "$calls" -r "$rate" -l 1000 -nostdin -timeout 600s -timeout_error -default_behaviors all,-abortunexp \
    -trace_rtt -rtt_freq 1 -trace_msg >sipp.log 2>&1) || echo "   sipp reported failed calls (see $out/$name/sipp.log)"
  kill "$kpid"; wait "$kpid" 2>/dev/null || true
  grep -E "Successful call|Failed call" "$out/$name/sipp.log" | tail -2 | sed 's/^/   /'
}

edge_url=http://127.0.0.1:$edge_port
for name in $RUNS; do
  case $name in
  floor)   run floor "$edge_url" "$edge_url" "$CALLS" "$RATE" -A ENNEO_NO_LOOKUP ;;
  edge)    run edge "$edge_url" "$edge_url" "$CALLS" "$RATE"
           # The edge's own view of the same lookups: how long it took to answer.
           curl -s -H "Authorization: Bearer $TOKEN" "$edge_url/metrics" >"$out/edge/metrics.txt" ;;
  stopped) run stopped "http://127.0.0.1:$closed_port" "http://127.0.0.1:$closed_port" "$CALLS" "$RATE" ;;
  silent)  run silent "http://127.0.0.1:$silent_port" "http://127.0.0.1:$silent_port" "$SILENT_CALLS" "$SILENT_RATE" ;;
  esac
done

echo
echo "INVITE -> 200 OK in ms, from sipp's message trace (microsecond timestamps):"
printf '%-8s %6s %7s %7s %7s %8s\n' run calls p50 p90 p99 max | tee "$out/summary.txt"
for name in $RUNS; do
  python3 "$root/bench/sip/pdd.py" "$name" "$(ls "$out/$name"/uac_*_messages.log)"
done | tee -a "$out/summary.txt"
echo
echo "the same from sipp's response times (-trace_rtt: whole ms, in steps of sipp's clock tick):" | tee -a "$out/summary.txt"
for name in $RUNS; do
  f=$(ls "$out/$name"/uac_*_rtt.csv)
  tail -n +2 "$f" | awk -F';' '$3=="setup"{print $2}' | sort -n | awk -v name="$name" '
    function q(p,  i) { i = int(NR * p + 0.5); if (i < 1) i = 1; return v[i] }
    { v[NR] = $1 }
    END { printf "%-8s %6d %6d %6d %6d %6d\n", name, NR, q(0.50), q(0.90), q(0.99), v[NR] }'
done | tee -a "$out/summary.txt"
if [ -f "$out/edge/metrics.txt" ]; then
  echo
  echo "the edge's answer time for the same callReceived requests (its histogram, cumulative):" | tee -a "$out/summary.txt"
  grep 'edge_http_request_duration_seconds_bucket{route="/api/mind/telephony/callReceived"' "$out/edge/metrics.txt" \
    | sed -E 's/.*le="([^"]+)"\} ([0-9]+)/  <= \1 s: \2/' | tee -a "$out/summary.txt"
fi
echo "(raw: $out)"
