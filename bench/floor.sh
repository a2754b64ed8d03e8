#!/usr/bin/env bash
# The floor: examples/floor.rs (a raw io_uring HTTP keep-alive forwarder, the least a proxy
# can spend per request on this kernel) beside corelb, HAProxy and nginx, in one run, under
# the load of scripts/bench-compare.sh scenario (c), plain HTTP keep-alive.
#
#   bench/floor.sh [--rounds N] [--duration SECONDS] [--rate REQ_PER_S] [--proxies "floor haproxy nginx corelb"]
#       [--no-perf] [--no-build] [--work DIR]
#
# Method (scripts/bench-compare.sh's): three `corelb-bench serve` backends, round robin; the
# proxy alone on the last CPU (taskset; nbthread 1, one corelb shard, one nginx worker, the
# floor's one thread), backends and `corelb-bench attack` on the others. Per proxy and round:
#   closed  64 requests in flight back to back (the rig's saturation)
#   open    a fixed rate, the same for every proxy (--rate, else half the lowest median
#           closed-loop rate of round 1, rounded down to a thousand)
# each after a 1 s warm-up at the same load. CPU = utime+stime of the proxy from
# /proc/PID/stat (nginx: master and workers) per successful request. Then one more closed
# and one more open run per proxy under `perf stat -e 'syscalls:sys_enter_*'` (the
# tracepoints cost time, so those runs' CPU is not used): system calls per request, and the
# most frequent ones.
# The proxies take turns; the first one changes from round to round. Medians of the rounds.
#
# Output: a Markdown table on stdout, progress on stderr, logs and raw reports in WORK
# (default a new /tmp/corelb-floor.XXXXXX). Exit 1 when a proxy does not start or answer
# 200, or a measured run has more than 1 % errors; 2 on bad arguments. Every process it
# starts is stopped on exit.
set -eu
export LC_ALL=C
cd "$(dirname "$0")/.."
REPO=$(pwd)

ROUNDS=3
DUR=5
RATE=""
PROXIES="floor haproxy nginx corelb"
PERF=1
BUILD=1
WORK=""
WORKERS=64

die() { echo "floor.sh: $*" >&2; exit 2; }
is_uint() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=${2:-}; shift 2 ;;
    --duration) DUR=${2:-}; shift 2 ;;
    --rate) RATE=${2:-}; shift 2 ;;
    --proxies) PROXIES=${2:-}; shift 2 ;;
    --no-perf) PERF=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --work) WORK=${2:-}; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
{ is_uint "$ROUNDS" && [ "$ROUNDS" -ge 1 ]; } || die "--rounds takes a number >= 1"
{ is_uint "$DUR" && [ "$DUR" -ge 1 ]; } || die "--duration takes whole seconds >= 1"
[ -z "$RATE" ] || is_uint "$RATE" || die "--rate takes requests per second"
for p in $PROXIES; do
  case "$p" in floor|haproxy|nginx|corelb) ;; *) die "unknown proxy '$p'" ;; esac
  case "$p" in haproxy|nginx) command -v "$p" >/dev/null || die "$p is not installed" ;; esac
done
for t in jq curl taskset ss timeout; do command -v "$t" >/dev/null || die "$t is not installed"; done
if [ "$PERF" = 1 ] && ! perf stat -e instructions true >/dev/null 2>&1; then
  echo "floor.sh: perf does not work here (apt-get install linux-perf); no syscall counts" >&2
  PERF=0
fi

BIN=${CARGO_TARGET_DIR:-$REPO/target}/release
if [ "$BUILD" = 1 ]; then
  echo "== building (release): corelb, corelb-bench, examples/floor" >&2
  cargo build --release -q -p corelb -p corelb-bench --bins --example floor >&2
fi
for b in corelb corelb-bench examples/floor; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing (cargo build --release -p corelb -p corelb-bench --bins --example floor)"
done
BENCH=$BIN/corelb-bench

if [ -z "$WORK" ]; then WORK=$(mktemp -d "${TMPDIR:-/tmp}/corelb-floor.XXXXXX"); else mkdir -p "$WORK"; fi
WORK=$(cd "$WORK" && pwd)
RESULTS=$WORK/results.tsv   # proxy kind round rate throughput ok us_per_req p99_ms
: > "$RESULTS"
ulimit -l unlimited 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Every process this script starts is one of its background jobs: `jobs -p` lists those
# still running. TERM, then KILL what is left after 3 s.
stop_pid() { # pid...
  local p
  kill "$@" 2>/dev/null || true
  for _ in $(seq 30); do
    for p in "$@"; do kill -0 "$p" 2>/dev/null && break; p=""; done
    [ -n "$p" ] || break
    sleep 0.1
  done
  kill -9 "$@" 2>/dev/null || true
  wait "$@" 2>/dev/null || true
}
cleanup() {
  local -a running
  read -r -a running <<< "$(jobs -p | tr '\n' ' ')"
  [ "${#running[@]}" -eq 0 ] || stop_pid "${running[@]}"
}
trap 'cleanup' EXIT
trap 'echo "floor.sh: interrupted" >&2; exit 130' INT TERM

# CPUs: the proxy on the last one this script may use, everything else on the others.
read -r -a CPUS <<< "$(taskset -cp $$ | sed 's/.*: *//' | tr ',' '\n' \
  | awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) printf "%d ", i; else printf "%d ", $1 }')"
[ "${#CPUS[@]}" -ge 2 ] || die "needs at least two CPUs (the proxy alone on one)"
PROXY_CPU=${CPUS[${#CPUS[@]}-1]}
LOAD_CPUS=$(echo "${CPUS[@]:0:${#CPUS[@]}-1}" | tr ' ' ',')
CLK_TCK=$(getconf CLK_TCK)

wait_listening() { # pid port
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || return 1
    [ -z "$(ss -Hltn "sport = :$2")" ] || return 0
    sleep 0.1
  done
  return 1
}
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$(( 10000 + RANDOM % 20000 ))
    [ -n "$(ss -Htan "sport = :$p")" ] || { echo "$p"; return; }
  done
  die "no free port"
}

# Three backends on the load CPUs.
BACKENDS=()
for k in 1 2 3; do
  port=$(pick_port)
  taskset -c "$LOAD_CPUS" "$BENCH" serve --listen "127.0.0.1:$port" --name "s$k" --shards 1 > "$WORK/serve-s$k.log" 2>&1 &
  wait_listening $! "$port" || { cat "$WORK/serve-s$k.log" >&2; echo "floor.sh: backend s$k did not start" >&2; exit 1; }
  BACKENDS+=("127.0.0.1:$port")
done
FRONT=$(pick_port)
TARGETS=$WORK/targets
echo "GET http://127.0.0.1:$FRONT/" > "$TARGETS"

render() { # template out
  sed -e "s|@NBTHREAD@|1|g" -e "s|@CPUMAP@|cpu-map 1/1 $PROXY_CPU|g" -e "s|@FRONT@|$FRONT|g" \
    -e "s|@S1@|${BACKENDS[0]}|g" -e "s|@S2@|${BACKENDS[1]}|g" -e "s|@S3@|${BACKENDS[2]}|g" \
    -e "s|@WORK@|$WORK|g" -e "s|@ID@|floor|g" "$1" > "$2"
}
render bench/scenarios/http.cfg "$WORK/http.cfg"
render bench/scenarios/nginx/http.conf "$WORK/nginx.conf"
mkdir -p "$WORK/nginx-tmp"

PROXY_PID=""
start_proxy() { # proxy
  local log=$WORK/$1.log
  case "$1" in
    floor) taskset -c "$PROXY_CPU" "$BIN/examples/floor" --listen "127.0.0.1:$FRONT" --cpu "$PROXY_CPU" \
             --backend "${BACKENDS[0]}" --backend "${BACKENDS[1]}" --backend "${BACKENDS[2]}" >> "$log" 2>&1 & ;;
    haproxy) taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/http.cfg" >> "$log" 2>&1 & ;;
    nginx) taskset -c "$PROXY_CPU" nginx -c "$WORK/nginx.conf" -g 'daemon off;' >> "$log" 2>&1 & ;;
    corelb) taskset -c "$PROXY_CPU" "$BIN/corelb" -f "$WORK/http.cfg" >> "$log" 2>&1 & ;;
  esac
  PROXY_PID=$!
  if ! wait_listening "$PROXY_PID" "$FRONT"; then
    echo "floor.sh: $1 did not start:" >&2; tail -5 "$log" >&2; exit 1
  fi
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$FRONT/" || true)
  [ "$code" = 200 ] || { echo "floor.sh: $1 answered '$code' instead of 200" >&2; exit 1; }
}
proxy_pids() { # the proxy and its children (nginx's workers), comma-separated
  local f k out=$PROXY_PID
  for f in /proc/"$PROXY_PID"/task/*/children; do
    k=""
    read -r k < "$f" 2>/dev/null || true
    for c in $k; do out="$out,$c"; done
  done
  echo "$out"
}
proxy_ticks() {
  local p line t=0
  local -a f
  for p in $(proxy_pids | tr ',' ' '); do
    if read -r line < "/proc/$p/stat" 2>/dev/null; then
      read -r -a f <<< "${line##*) }"
      t=$(( t + f[11] + f[12] ))
    fi
  done
  echo "$t"
}

attack() { # rate(0 = closed loop) seconds output
  local rate_arg=0 workers=$WORKERS
  if [ "$1" != 0 ]; then
    rate_arg="$1/1s"
    workers=$(( ($1 + 249) / 250 ))
    [ "$workers" -ge 8 ] || workers=8
  fi
  timeout -k 5 $(( $2 + 60 )) taskset -c "$LOAD_CPUS" "$BENCH" attack --cpus 1 --targets "$TARGETS" \
    --rate "$rate_arg" --duration "${2}s" --workers "$workers" --max-workers "$workers" \
    --timeout 10s --output "$3" 2>> "$WORK/attack.log"
}

FAILED=0
measure() { # proxy kind round rate
  local out=$WORK/$1-$2-$3.bin t0 t1 rep
  start_proxy "$1"
  attack "$4" 1 /dev/null || true
  t0=$(proxy_ticks)
  attack "$4" "$DUR" "$out" || { echo "floor.sh: the generator failed through $1" >&2; FAILED=1; }
  t1=$(proxy_ticks)
  stop_pid "$PROXY_PID"
  rep=$("$BENCH" report --type json "$out")
  echo "$rep" > "$WORK/$1-$2-$3.json"
  echo "$rep" | jq -r --arg p "$1" --arg k "$2" --arg r "$3" --argjson rate "$4" \
    --argjson ticks $(( t1 - t0 )) --argjson hz "$CLK_TCK" '
    ((.requests * .success) | round) as $ok
    | [$p, $k, $r, $rate, (.throughput | floor), $ok,
       (if $ok > 0 then ($ticks / $hz * 1e6 / $ok * 10 | round) / 10 else 0 end),
       (((.latencies["99th"] // 0) / 1e4 | round) / 100)] | @tsv' | tee -a "$RESULTS" \
    | awk -F'\t' '{ printf "   %-8s %-6s round %s: %s req/s ok, %s µs/req, p99 %s ms\n", $1, $2, $3, $5, $7, $8 }' >&2
  if jq -e '.requests == 0 or .success < 0.99' "$WORK/$1-$2-$3.json" >/dev/null; then
    echo "floor.sh: more than 1 % errors through $1 ($2, round $3)" >&2
    FAILED=1
  fi
}

order() { # round → the proxies rotated by round - 1
  local -a ps
  local i n out=""
  read -r -a ps <<< "$PROXIES"
  n=${#ps[@]}
  for ((i = 0; i < n; i++)); do out="$out ${ps[$(( (i + $1 - 1) % n ))]}"; done
  echo "$out"
}
median() { # proxy kind column
  awk -F'\t' -v p="$1" -v k="$2" -v c="$3" '$1 == p && $2 == k { print $c }' "$RESULTS" | sort -g \
    | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "== proxy on CPU $PROXY_CPU, backends and generator on CPU $LOAD_CPUS; work dir $WORK" >&2
for round in $(seq "$ROUNDS"); do
  for p in $(order "$round"); do measure "$p" closed "$round" 0; done
  if [ -z "$RATE" ]; then
    low=$(for p in $PROXIES; do median "$p" closed 5; done | sort -g | head -1)
    RATE=$(( low / 2 / 1000 * 1000 ))
    [ "$RATE" -gt 0 ] || RATE=500
    echo "== open loop at $RATE req/s (half the lowest closed-loop rate, $low/s)" >&2
  fi
  for p in $(order "$round"); do measure "$p" open "$round" "$RATE"; done
done

# System calls per request: one closed and one open run per proxy under perf stat.
declare -A SYSCALLS TOP
count_syscalls() { # proxy kind rate
  local key=$1-$2 ppid ok
  start_proxy "$1"
  attack "$3" 1 /dev/null || true
  perf stat -e 'syscalls:sys_enter_*' -x, -o "$WORK/$key-syscalls.csv" -p "$(proxy_pids)" &
  ppid=$!
  sleep 0.5   # perf attaches to every tracepoint first
  attack "$3" "$DUR" "$WORK/$key-perf.bin" || FAILED=1
  kill -INT "$ppid" 2>/dev/null || true
  wait "$ppid" 2>/dev/null || true
  stop_pid "$ppid"
  stop_pid "$PROXY_PID"
  ok=$("$BENCH" report --type json "$WORK/$key-perf.bin" | jq '(.requests * .success) | round')
  # perf counts from attach to SIGINT, a little longer than the generator's run: an
  # overestimate of at most that margin's idle wake-ups.
  SYSCALLS[$key]=$(awk -F, -v ok="$ok" '$3 ~ /^syscalls:/ { n += $1 } END { printf "%.2f", (ok > 0 ? n / ok : 0) }' "$WORK/$key-syscalls.csv")
  TOP[$key]=$(awk -F, -v ok="$ok" '$3 ~ /^syscalls:/ && $1 > 0 { sub("syscalls:sys_enter_", "", $3); printf "%s %.2f\n", $3, $1 / ok }' "$WORK/$key-syscalls.csv" \
    | sort -k2 -gr | awk '$2 >= 0.01' | head -5 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')
  echo "   $1 $2: ${SYSCALLS[$key]} syscalls/req (${TOP[$key]})" >&2
}
if [ "$PERF" = 1 ]; then
  for p in $PROXIES; do
    count_syscalls "$p" closed 0
    count_syscalls "$p" open "$RATE"
  done
fi
cleanup   # the backends too, before the table

echo
echo "Plain HTTP keep-alive (scenario c), proxy alone on CPU $PROXY_CPU, medians of $ROUNDS round(s) of ${DUR} s; open loop at $RATE req/s."
echo
echo "| proxy | closed loop (64 in flight): req/s | µs CPU/req | syscalls/req | open loop: µs CPU/req | p99 ms | syscalls/req |"
echo "|---|---|---|---|---|---|---|"
for p in $PROXIES; do
  echo "| $p | $(median "$p" closed 5) | $(median "$p" closed 7) | ${SYSCALLS[$p-closed]:--} | $(median "$p" open 7) | $(median "$p" open 8) | ${SYSCALLS[$p-open]:--} |"
done
if [ "$PERF" = 1 ]; then
  echo
  echo "| proxy | most frequent system calls per request, closed loop | open loop |"
  echo "|---|---|---|"
  for p in $PROXIES; do echo "| $p | ${TOP[$p-closed]:--} | ${TOP[$p-open]:--} |"; done
fi
exit "$FAILED"
