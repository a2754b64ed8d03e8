#!/usr/bin/env bash
# Counts, not times, of corelb's work per request through its HTTP/2 frontend (scenario (g):
# HTTPS, h2, 10 streams per connection, HTTP/1.1 keep-alive to the backend): instructions
# (callgrind's Ir), allocations (calls into mimalloc's allocation functions) and clock
# reads (calls to clock_gettime), each per request. Repeatable on a noisy shared machine,
# where CPU times are not.
#
#   bench/h2-counts.sh [--bin DIR] [--warm N] [--requests N] [--work DIR] [--haproxy [PATH]]
#
# --haproxy runs HAProxy (Debian's /usr/sbin/haproxy, or PATH; nbthread 1) on the same
# configuration in corelb's place: its instructions per request are the peer's figure
# (its allocations come from its own pools, not mimalloc, so that count reads 0 there).
#
# corelb (1 shard) runs under `valgrind --tool=callgrind` twice: once with a warm-up attack
# of --warm requests then a short one of 1,000, once with the same warm-up then --requests.
# Each attack is one connection with 10 streams in flight (`corelb-bench attack --http2
# --max-streams 10 --max-workers 10`, open loop far above what corelb can do under
# callgrind, so: back to back, and exactly rate × duration requests). The difference of the
# two runs, divided by the difference of the requests, is the cost of a request in steady
# state: start-up, the warm-up, the TLS handshakes and the stop cancel out.
# Needs target/release/corelb and corelb-bench (or --bin DIR holding both), valgrind,
# openssl, python3.
set -eu
export LC_ALL=C
cd "$(dirname "$0")/.."
BIN=target/release
WARM=2000
REQS=11000
WORK=
HAPROXY=
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --warm) WARM=$2; shift 2 ;;
    --requests) REQS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --haproxy)
      if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then HAPROXY=$2; shift 2; else HAPROXY=/usr/sbin/haproxy; shift; fi ;;
    *) echo "h2-counts: unknown argument $1" >&2; exit 2 ;;
  esac
done
SHORT=1000
[ "$REQS" -gt "$SHORT" ] || { echo "h2-counts: --requests must be over $SHORT" >&2; exit 2; }
[ -n "$WORK" ] || WORK=$(mktemp -d /tmp/corelb-h2-counts.XXXXXX)
mkdir -p "$WORK"
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "h2-counts: nothing listens on $1" >&2
  return 1
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
  -days 90 -keyout "$WORK/c.key" -out "$WORK/c.crt" 2>/dev/null
cat "$WORK/c.crt" "$WORK/c.key" > "$WORK/c.pem"

BPORT=$(free_port)
"$BIN/corelb-bench" serve --listen "127.0.0.1:$BPORT" --name s1 --shards 1 \
  > "$WORK/serve.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$BPORT"

attack() { # port requests
  # 10 streams on one connection; requests = rate × duration (rate 100,000/s).
  local dur
  dur=$(awk -v n="$2" 'BEGIN { printf "%gms", n / 100 }')
  echo "GET https://127.0.0.1:$1/" | "$BIN/corelb-bench" attack --cpus 1 --http2 --max-streams 10 \
    --workers 10 --max-workers 10 --rate 100000/1s --duration "$dur" --timeout 0 \
    --root-certs "$WORK/c.crt" --output "$WORK/r.bin" 2>> "$WORK/attack.log"
  "$BIN/corelb-bench" report "$WORK/r.bin" > "$WORK/report.txt"
  local got
  got=$(awk '/^Status Codes/ { for (i = 1; i <= NF; i++) if ($i ~ /^200:/) { sub("200:", "", $i); print $i } }' \
    "$WORK/report.txt")
  grep -q 'HTTP/2.0:' "$WORK/report.txt" || { echo "h2-counts: not HTTP/2" >&2; cat "$WORK/report.txt" >&2; return 1; }
  [ "$got" = "$2" ] || { echo "h2-counts: $got of $2 requests answered 200" >&2; cat "$WORK/report.txt" >&2; return 1; }
}

run() { # name requests
  local port out pid
  port=$(free_port)
  sed -e "s|@NBTHREAD@|1|g" -e "s|@CPUMAP@||g" -e "s|@FRONT@|$port|g" -e "s|@CRT@|$WORK/c.pem|g" \
    -e "s|server s1 @S1@|server s1 127.0.0.1:$BPORT|" -e "/@S[23]@/d" \
    bench/scenarios/h2.cfg > "$WORK/h2.cfg"
  out="$WORK/callgrind.$1"
  if [ -n "$HAPROXY" ]; then
    set -- "$1" "$2" "$HAPROXY" -db -f "$WORK/h2.cfg"
  else
    set -- "$1" "$2" "$BIN/corelb" -f "$WORK/h2.cfg"
  fi
  valgrind --tool=callgrind --callgrind-out-file="$out" "${@:3}" > "$WORK/proxy.$1.log" 2>&1 &
  pid=$!
  PIDS="$PIDS $pid"
  wait_port "$port"
  attack "$port" "$WARM"
  attack "$port" "$2"
  # Under valgrind an idle shard holds valgrind's lock in io_uring_enter, so the signal
  # thread never runs: wake the shard with bare TCP connections (a few, cheap, each
  # refused at its TLS handshake) until the stop has gone through.
  kill -TERM "$pid"
  for _ in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || true
    sleep 0.3
  done
  wait "$pid" || true
}

run short "$SHORT"
run long "$REQS"

python3 - "$WORK/callgrind.short" "$WORK/callgrind.long" "$(( REQS - SHORT ))" <<'EOF'
import re, sys

def counts(path):
    """Total Ir, and calls into the allocator and into clock_gettime (from outside them)."""
    names, total = {}, 0
    alloc = clock = 0
    fn = cfn = None
    def name(tok):
        m = re.match(r'\((\d+)\)(?: (.*))?', tok)
        if not m:
            return tok
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), '?')
    is_alloc = lambda n: re.fullmatch(r'mi_(malloc|zalloc|calloc|realloc|malloc_aligned|zalloc_aligned|realloc_aligned|rezalloc_aligned)', n)
    is_clock = lambda n: n.split('@')[0] in ('clock_gettime', '__clock_gettime')
    with open(path) as f:
        for line in f:
            if line.startswith('fn='):
                fn = name(line[3:].strip())
            elif line.startswith('cfn='):
                cfn = name(line[4:].strip())
            elif line.startswith('calls='):
                n = int(line[6:].split()[0])
                if is_alloc(cfn) and not fn.startswith('mi_'):
                    alloc += n
                if is_clock(cfn) and not is_clock(fn):
                    clock += n
            elif line.startswith('summary:') or line.startswith('totals:'):
                total = int(line.split()[1])
    return total, alloc, clock

s, l, n = counts(sys.argv[1]), counts(sys.argv[2]), int(sys.argv[3])
print(f"requests measured: {n}")
for label, a, b in zip(("instructions", "allocations", "clock reads"), s, l):
    print(f"{label:13} per request: {(b - a) / n:.2f}   (runs: {a} / {b})")
EOF
echo "callgrind files: $WORK/callgrind.short $WORK/callgrind.long (callgrind_annotate)"
