#!/usr/bin/env bash
# getRouting latency at a constant poll rate, measured from a separate
# process (vegeta) against the real binary over loopback.
#
# Setup: AGENTS agents logged in (unavailable, so nobody is routable and
# every call waits), WAITING routing=native calls waiting on two lines with
# different skills. Then vegeta polls getRouting for the waiting tickets
# round-robin at RATE/s for DURATION, and /healthz at the same rate as the
# baseline of the same run (same server, same machine noise).
#
#   tests/bench/getrouting.sh            # RATE=1000 DURATION=30s WAITING=200 AGENTS=50
set -euo pipefail
RATE=${RATE:-1000}
DURATION=${DURATION:-30s}
WAITING=${WAITING:-200}
AGENTS=${AGENTS:-50}
VEGETA=${VEGETA:-"go run github.com/tsenart/vegeta/v12@v12.13.0"}

root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
token=bench-token-0123456789abcdef
port=$((20000 + RANDOM % 20000))
cat >"$work/edge.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[storage]
path = "$work/edge.db"
[auth]
tokens = ["$token"]
[routing]
subchannel_tags = { "5" = 46, "6" = 47 }
TOML
(cd "$root" && go build -o "$work/enneo-edge" .)
$VEGETA -version >/dev/null # fetch and build vegeta before the clock matters
"$work/enneo-edge" serve -config "$work/edge.toml" >"$work/serve.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done

auth=(-H "Authorization: Bearer $token")
for i in $(seq "$AGENTS"); do
  skill=$((46 + i % 2))
  curl -fs "${auth[@]}" -X PUT -d "{\"name\":\"agent $i\",\"skillTagIds\":[$skill],\"rawData\":{\"sip\":\"$((200 + i))\"}}" "$url/edge/v1/agents/$i" >/dev/null
  curl -fs "${auth[@]}" -X PATCH -d '{"callRoutingStatus":"unavailable"}' "$url/api/mind/profile/$i/routingStatus" >/dev/null
done
: >"$work/targets"
for i in $(seq "$WAITING"); do
  line=$((5 + i % 2))
  ticket=$(curl -fs "${auth[@]}" -d "{\"routing\":\"native\",\"subchannelId\":$line,\"channelId\":\"bench-$i\"}" "$url/api/mind/telephony/callReceived" |
    sed -E 's/.*"ticketId":([0-9]+).*/\1/')
  printf 'GET %s/api/mind/telephony/getRouting?ticketId=%s\nAuthorization: Bearer %s\n\n' "$url" "$ticket" "$token" >>"$work/targets"
done
last=$(curl -fs "${auth[@]}" "$url/api/mind/telephony/getRouting?ticketId=$ticket")
echo "last of $WAITING waiting calls: $last"

printf 'GET %s/healthz\n\n' "$url" >"$work/baseline"
echo "== baseline: GET /healthz at $RATE/s for $DURATION"
$VEGETA attack -rate="$RATE" -duration="$DURATION" -targets="$work/baseline" | $VEGETA report -type=text
echo "== getRouting over $WAITING waiting calls, $AGENTS agents, at $RATE/s for $DURATION"
$VEGETA attack -rate="$RATE" -duration="$DURATION" -targets="$work/targets" | tee "$work/results.bin" | $VEGETA report -type=text
$VEGETA report -type='hist[0,250us,500us,1ms,2ms,5ms,10ms,50ms]' <"$work/results.bin"
