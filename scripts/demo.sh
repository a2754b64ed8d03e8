#!/usr/bin/env bash
# corelb end to end on one machine: builds corelb and corelb-bench, starts three
# `corelb-bench serve` backends and corelb on the configuration below, drives load
# through it with the bundled generator and prints the report. Everything it starts is
# stopped on exit, also on Ctrl-C.
#
#   scripts/demo.sh [--rate N/1s] [--duration D]
set -eu
cd "$(dirname "$0")/.."

RATE=2000/1s
DURATION=10s
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if ! command -v curl >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "demo: installing curl" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq curl >/dev/null
  else
    echo "demo: curl is needed (apt-get install curl)" >&2
    exit 1
  fi
fi
# glommio's io_uring shards need locked memory.
ulimit -l unlimited 2>/dev/null || ulimit -l 65536 2>/dev/null || true

echo "== building (release)"
cargo build --release -q -p corelb -p corelb-bench
BIN=target/release
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
FRONT=$(pick_port)

echo "== starting three backends"
BACKENDS=""
for name in web1 web2 web3; do
  port=$(pick_port)
  "$BIN/corelb-bench" serve --listen "127.0.0.1:$port" --name "$name" --body-size 512 > "$WORK/$name.log" 2>&1 &
  PIDS="$PIDS $!"
  BACKENDS="$BACKENDS $name:$port"
done

cat > "$WORK/corelb.cfg" <<CFG
# The demo's configuration: HAProxy syntax, mode tcp over three local backends.
global
    maxconn 20000

defaults
    mode tcp
    option tcplog
    timeout connect 5s
    timeout client  30s
    timeout server  30s
    retries 3
    option redispatch

frontend www
    bind 127.0.0.1:$FRONT
    default_backend web

backend web
    balance roundrobin
$(for b in $BACKENDS; do echo "    server ${b%%:*} 127.0.0.1:${b##*:}"; done)
CFG

echo "== checking the configuration"
"$BIN/corelb" -c -f "$WORK/corelb.cfg"
echo "== starting corelb on 127.0.0.1:$FRONT"
"$BIN/corelb" -f "$WORK/corelb.cfg" > "$WORK/corelb.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$FRONT/health" && break
  sleep 0.1
done

echo "== six requests: round-robin over the backends (X-Server names the one that answered)"
for _ in 1 2 3 4 5 6; do
  curl -s -D - -o /dev/null "http://127.0.0.1:$FRONT/" | grep -i '^x-server' | tr -d '\r'
done

echo "== attack: $RATE for $DURATION through corelb"
echo "GET http://127.0.0.1:$FRONT/" | "$BIN/corelb-bench" attack --rate "$RATE" --duration "$DURATION" \
  --output "$WORK/results.bin"
"$BIN/corelb-bench" report "$WORK/results.bin"
"$BIN/corelb-bench" report --type plot --output "$WORK/plot.html" "$WORK/results.bin"
echo
echo "latency plot: $WORK/plot.html"
echo "corelb log:   $WORK/corelb.log"
