#!/usr/bin/env bash
# corelb end to end on one machine, SSL offload as in seed 003: builds corelb and
# corelb-bench, makes a self-signed certificate, starts three `corelb-bench serve`
# backends and corelb on examples/003-ssl-offload.cfg (TLS on one port, plain HTTP
# redirected to it on another), drives HTTPS load through it with the bundled generator
# and prints the report. Everything it starts is stopped on exit, also on Ctrl-C.
#
#   scripts/demo.sh [--rate N/1s] [--duration D] [--bin-dir DIR]
#
# --bin-dir DIR: use DIR/corelb and DIR/corelb-bench as they are, without building.
set -eu
cd "$(dirname "$0")/.."

RATE=2000/1s
DURATION=10s
BIN_DIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

missing=""
for tool in curl openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -z "$BIN_DIR" ] && ! command -v cargo >/dev/null 2>&1; then
  echo "demo: cargo is needed (https://rustup.rs, or apt-get install cargo)" >&2
  exit 1
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "demo: installing$missing" >&2
    # shellcheck disable=SC2086 # the list is split on purpose
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq $missing >/dev/null
  else
    echo "demo: needs$missing (apt-get install$missing)" >&2
    exit 1
  fi
fi
# glommio's io_uring shards need locked memory.
ulimit -l unlimited 2>/dev/null || ulimit -l 65536 2>/dev/null || true

if [ -n "$BIN_DIR" ]; then
  # corelb and corelb-bench already built (the test suite runs the demo this way).
  BIN=$BIN_DIR
else
  echo "== building (release)"
  cargo build --release -q -p corelb -p corelb-bench
  BIN=target/release
fi
WORK=$(mktemp -d /tmp/corelb-demo.XXXXXX)
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  echo "== stopped everything (files kept in $WORK)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free high ports: let the kernel pick, then release them for the demo.
pick_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null \
  || shuf -i 20000-60000 -n 1; }
HTTP_PORT=$(pick_port)
HTTPS_PORT=$(pick_port)
STATS_PORT=$(pick_port)
NAME=demo.corelb.test

echo "== a self-signed certificate for $NAME (ECDSA P-256)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=$NAME" -addext "subjectAltName=DNS:$NAME,IP:127.0.0.1" \
  -addext basicConstraints=critical,CA:FALSE \
  -keyout "$WORK/site.key" -out "$WORK/site.crt" 2>/dev/null
cat "$WORK/site.crt" "$WORK/site.key" > "$WORK/site.pem"

echo "== starting three backends"
n=0
for name in node1 node2 node3; do
  n=$((n + 1))
  port=$(pick_port)
  "$BIN/corelb-bench" serve --listen "127.0.0.1:$port" --name "$name" --body-size 512 > "$WORK/$name.log" 2>&1 &
  PIDS="$PIDS $!"
  export "NODE${n}_PORT=$port"
done
export HTTP_PORT HTTPS_PORT STATS_PORT SITE_PEM="$WORK/site.pem" STATS_SOCK="$WORK/admin.sock"
CFG=examples/003-ssl-offload.cfg

echo "== checking $CFG"
"$BIN/corelb" -c -f "$CFG"
echo "== starting corelb: http://127.0.0.1:$HTTP_PORT (redirects) and https://127.0.0.1:$HTTPS_PORT"
"$BIN/corelb" -f "$CFG" > "$WORK/corelb.log" 2>&1 &
PIDS="$PIDS $!"
CURL="curl -s --max-time 5 --cacert $WORK/site.crt --resolve $NAME:$HTTPS_PORT:127.0.0.1"
for _ in $(seq 100); do
  $CURL -o /dev/null "https://$NAME:$HTTPS_PORT/health" && break
  sleep 0.1
done

echo "== plain HTTP is redirected to HTTPS"
curl -s -D - -o /dev/null -H "Host: $NAME" "http://127.0.0.1:$HTTP_PORT/hello" | grep -iE '^(HTTP|location)' | tr -d '\r'
echo "== six HTTPS requests: round-robin over the nodes (X-Server names the one that answered)"
for _ in 1 2 3 4 5 6; do
  $CURL -D - -o /dev/null "https://$NAME:$HTTPS_PORT/" | grep -i '^x-server' | tr -d '\r'
done
echo "== the runtime API (HAProxy's stats socket): the servers' state"
if command -v socat > /dev/null; then
  echo "show servers state" | socat stdio "$STATS_SOCK"
else
  echo "(install socat to talk to $STATS_SOCK)"
fi
echo "== the stats frontend: the CSV (http://127.0.0.1:$STATS_PORT/stats) and Prometheus metrics (/metrics)"
curl -s --max-time 5 "http://127.0.0.1:$STATS_PORT/stats;csv" | cut -d, -f1,2,5,8,18 | head -6
curl -s --max-time 5 "http://127.0.0.1:$STATS_PORT/metrics" | grep -E '^haproxy_(server_status|backend_http_responses_total)' | head -6
echo "== what a node sees (TLS ends at corelb; the forwarding headers say where it came from)"
$CURL "https://$NAME:$HTTPS_PORT/echo"
echo

echo "== attack: $RATE for $DURATION of HTTPS through corelb (keep-alive)"
echo "GET https://127.0.0.1:$HTTPS_PORT/" | "$BIN/corelb-bench" attack --rate "$RATE" --duration "$DURATION" \
  --root-certs "$WORK/site.crt" --output "$WORK/results.bin"
"$BIN/corelb-bench" report "$WORK/results.bin"
"$BIN/corelb-bench" report --type plot --output "$WORK/plot.html" "$WORK/results.bin"
echo
echo "latency plot: $WORK/plot.html"
echo "corelb log:   $WORK/corelb.log"
