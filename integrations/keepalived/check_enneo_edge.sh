#!/bin/sh
# check_enneo_edge.sh: keepalived's health check of one enneo-edge node.
#
#   check_enneo_edge.sh [URL [CAFILE]]
#
# Exits 0 when the node at URL (default http://127.0.0.1:8005, or
# $ENNEO_EDGE_URL) answers GET /readyz with 200 within $ENNEO_EDGE_TIMEOUT
# seconds (default 2): its database takes writes, and in a cluster the node
# reaches a quorum. Anything else (no answer, a timeout, 503 because the
# node is cut off from the others or its disk failed) exits 1, and
# keepalived moves the virtual IP to a node that passes. CAFILE (or
# $ENNEO_EDGE_CACERT) is the CA that signed the node's certificate when
# server.tls_* is set; /readyz needs no token.
#
# POSIX sh and curl only; it prints one line on stderr when the check fails
# (keepalived logs it with enable_script_security's script logging).
set -u

url=${1:-${ENNEO_EDGE_URL:-http://127.0.0.1:8005}}
cafile=${2:-${ENNEO_EDGE_CACERT:-}}
timeout=${ENNEO_EDGE_TIMEOUT:-2}

set -- --silent --show-error --output /dev/null --write-out '%{http_code}' \
	--max-time "$timeout" --connect-timeout "$timeout" --noproxy '*'
if [ -n "$cafile" ]; then
	set -- "$@" --cacert "$cafile"
fi

code=$(curl "$@" "${url%/}/readyz" 2>/dev/null) || code=${code:-000}
if [ "$code" = 200 ]; then
	exit 0
fi
echo "enneo-edge at $url not ready: /readyz answered ${code}" >&2
exit 1
