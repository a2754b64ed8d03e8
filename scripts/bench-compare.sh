#!/usr/bin/env bash
# corelb against HAProxy and nginx on this machine: one configuration file per scenario and
# proxy, every proxy in the same run under the same load, taking turns.
#
#   scripts/bench-compare.sh [--quick] [--proxy haproxy|nginx|corelb|both|all] [--scenarios a,b,c,d,e,f,g]
#       [--rounds N] [--duration SECONDS] [--rate a|b|c|e|f|g=REQ_PER_S]... [--p99-limit MS]
#       [--proxy-cpus N | --proxy-cpu-list LIST] [--json FILE] [--work DIR]
#       [--no-build | --bin-dir DIR] [--baseline DIR]
#
# Scenarios (bench/scenarios/*.cfg, HAProxy syntax: the same file runs under HAProxy and corelb;
# bench/scenarios/nginx/*.conf, the same setup in nginx's language):
#   a  SSL offload, new connection + full TLS 1.3 handshake per request: a-ecdsa (P-256), a-rsa (2048)
#   b  SSL offload, keep-alive (ECDSA P-256)
#   c  plain HTTP keep-alive
#   d  mode tcp bulk: tcpbulk through the proxy, both directions at once; CPU seconds per GiB
#   e  seed 003: POST over HTTPS keep-alive at a fixed rate: 25,000/s if the machine can,
#      else the highest rate (stepping down) at which every proxy has no errors and a sane p99
#      (no nginx configuration: seed 003's rules have no one-to-one nginx equivalent)
#   f  mode tcp, short HTTP keep-alive exchanges through it (small messages: copy vs splice)
#   g  HTTP/2 over HTTPS keep-alive (ECDSA P-256, `alpn h2,http/1.1`), 10 streams in flight per
#      connection; every response must come over HTTP/2. A proxy that does not negotiate h2
#      (corelb before its HTTP/2) is reported "n/a (no h2 negotiated)", not a failure
# --proxy: all (default) = HAProxy, nginx and corelb; both = HAProxy and corelb.
# --baseline DIR: also run DIR/corelb (an earlier build) on corelb's configurations, as the
#   proxy "baseline", so that a change is measured against the code before it in one run.
# Backends: three `corelb-bench serve` (round robin); load: `corelb-bench attack`.
#
# Per scenario, the proxies take turns (the first one changes from round to round):
#   (a)-(c), (f), (g) closed loop: 64 requests in flight back to back, the rig's saturation;
#   (a)-(c), (e)-(g) open loop at one fixed rate for both proxies: half the slower proxy's median
#   closed-loop rate (or --rate), stepped down until short probes show no errors, the rate
#   sent and p99 <= --p99-limit (default 500 ms: a shared VM's noise, not overload);
#   (d) a fixed number of bytes each way.
# Measured per run: rate, latency percentiles, errors, and CPU time (utime+stime from
# /proc/PID/stat; for nginx its master and workers) of the proxy, the generator and the
# backends per request (per GiB for d).
# The proxy runs on its own CPU(s) (the last quarter of the CPUs this script may use, at
# least one; or --proxy-cpus N / --proxy-cpu-list LIST) with nbthread = corelb shards = that
# number; generator and backends on the others. With one CPU everything shares it.
#
# Output: Markdown tables on stdout (progress on stderr), every number in the JSON file
# (default WORK/results.json), rendered configurations, logs in WORK (default a new
# /tmp/corelb-bench-compare.XXXXXX). Exit status 0 when everything that could run ran
# cleanly; 1 on a real failure (a proxy that does not start or answer 200, HAProxy rejecting
# a configuration, a corrupted or short bulk transfer, a generator failure, no rate without
# errors, a measured run with more than 1 % errors); 2 on bad arguments. A configuration that corelb rejects (`corelb -c`: not
# supported yet) is reported in its rows and is not a failure; nor is (g) without h2 in corelb.
#
#   --quick    one round, 2 s runs: about 1-2 minutes in all (CI smoke test)
#   default    3 rounds, 10 s open-loop and 5 s closed-loop runs: about 10-15 minutes
# Builds corelb, corelb-bench and examples/tcpbulk (cargo, release) unless --no-build;
# installs haproxy, nginx-light with its stream module (and jq, curl...) with apt-get when
# missing (as root).
set -eu
export LC_ALL=C
cd "$(dirname "$0")/.."
REPO=$(pwd)

QUICK=0
PROXIES="haproxy nginx corelb"
SCENARIOS="a b c d e f g"
ROUNDS=""
DUR=""
JSON=""
WORK=""
PROXY_NCPU=""
PROXY_CPU_LIST=""
BUILD=1
BIN_DIR=""
BASELINE_DIR=""
P99_LIMIT_MS=500
RATE_OVERRIDES=""

usage() { sed -n '2,53p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "bench-compare: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --proxy)
      case "${2:-}" in
        haproxy|nginx|corelb) PROXIES=$2 ;;
        both) PROXIES="haproxy corelb" ;;
        all) PROXIES="haproxy nginx corelb" ;;
        *) die "--proxy takes haproxy, nginx, corelb, both or all" ;;
      esac
      shift 2 ;;
    --scenarios) SCENARIOS=$(echo "${2:-}" | tr ',' ' '); shift 2 ;;
    --rounds) ROUNDS=${2:-}; shift 2 ;;
    --duration) DUR=${2:-}; shift 2 ;;
    --json) JSON=${2:-}; shift 2 ;;
    --work) WORK=${2:-}; shift 2 ;;
    --proxy-cpus) PROXY_NCPU=${2:-}; shift 2 ;;
    --proxy-cpu-list) PROXY_CPU_LIST=${2:-}; shift 2 ;;
    --rate) RATE_OVERRIDES="$RATE_OVERRIDES ${2:-}"; shift 2 ;;
    --p99-limit) P99_LIMIT_MS=${2:-}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --bin-dir) BIN_DIR=${2:-}; BUILD=0; shift 2 ;;
    --baseline) BASELINE_DIR=${2:-}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for s in $SCENARIOS; do
  case "$s" in a|b|c|d|e|f|g) ;; *) die "unknown scenario '$s' (a, b, c, d, e, f, g)" ;; esac
done
is_uint() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }
[ -z "$ROUNDS" ] || { is_uint "$ROUNDS" && [ "$ROUNDS" -ge 1 ]; } || die "--rounds takes a number >= 1"
[ -z "$DUR" ] || { is_uint "$DUR" && [ "$DUR" -ge 1 ]; } || die "--duration takes whole seconds >= 1"
[ -z "$PROXY_NCPU" ] || { is_uint "$PROXY_NCPU" && [ "$PROXY_NCPU" -ge 1 ]; } || die "--proxy-cpus takes a number >= 1"
is_uint "$P99_LIMIT_MS" || die "--p99-limit takes milliseconds"
for o in $RATE_OVERRIDES; do
  case "$o" in [abcefg]=*) is_uint "${o#*=}" || die "--rate $o: not a number" ;; *) die "--rate takes a=N, b=N, c=N, e=N, f=N or g=N" ;; esac
done

# Durations (seconds; fractions are fine for the generator, which takes Go durations).
if [ "$QUICK" = 1 ]; then
  : "${ROUNDS:=1}" "${DUR:=2}"
  WARM=0.5; CLOSED_DUR=1; PROBE_DUR=1; REQ_TIMEOUT=5s
  BULK_BYTES=$((128 << 20)); BULK_CONNS=2; BULK_CHECK=1
else
  : "${ROUNDS:=3}" "${DUR:=10}"
  WARM=2; CLOSED_DUR=5; PROBE_DUR=3; REQ_TIMEOUT=10s
  BULK_BYTES=$((1 << 30)); BULK_CONNS=2; BULK_CHECK=0
fi
CLOSED_WORKERS=64          # closed loop: requests in flight
H2_STREAMS=10              # (g): HTTP/2 streams in flight per connection
SEED_RATES="25000 20000 16000 12500 10000 8000 6300 5000 4000 3200 2500 2000 1600 1250 1000 800 630 500 400 320 250 200 160 125 100 80 63 50"

# ---------------------------------------------------------------------------------------------
# Tools, binaries, work directory
# ---------------------------------------------------------------------------------------------
need_root_install() { # package...
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-compare: missing $*; install as root: apt-get install $*" >&2
    exit 1
  fi
  echo "== installing $* (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
missing=""
case " $PROXIES " in *" haproxy "*) command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy" ;; esac
NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
case " $PROXIES " in
  *" nginx "*)
    command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
    [ -e "$NGINX_STREAM" ] || missing="$missing libnginx-mod-stream" ;;
esac
for t in jq curl openssl; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
command -v taskset >/dev/null 2>&1 || missing="$missing util-linux"
command -v ss >/dev/null 2>&1 || missing="$missing iproute2"
command -v timeout >/dev/null 2>&1 || missing="$missing coreutils"
# shellcheck disable=SC2086 # a list of package names
[ -z "$missing" ] || need_root_install $missing

if [ -z "$BIN_DIR" ]; then
  BIN_DIR="${CARGO_TARGET_DIR:-$REPO/target}/release"
fi
if [ "$BUILD" = 1 ]; then
  echo "== building (release): corelb, corelb-bench, examples/tcpbulk" >&2
  cargo build --release -q -p corelb -p corelb-bench --bins --example tcpbulk >&2
fi
CORELB=$BIN_DIR/corelb
BENCH=$BIN_DIR/corelb-bench
TCPBULK=$BIN_DIR/examples/tcpbulk
for b in "$BENCH" "$TCPBULK"; do
  [ -x "$b" ] || { echo "bench-compare: $b is missing (cargo build --release -p corelb -p corelb-bench --bins --example tcpbulk)" >&2; exit 1; }
done
case " $PROXIES " in *" corelb "*) [ -x "$CORELB" ] || { echo "bench-compare: $CORELB is missing" >&2; exit 1; } ;; esac
BASELINE=""
if [ -n "$BASELINE_DIR" ]; then
  BASELINE=$BASELINE_DIR/corelb
  [ -x "$BASELINE" ] || { echo "bench-compare: --baseline: $BASELINE is missing" >&2; exit 1; }
  PROXIES="$PROXIES baseline"
fi

if [ -z "$WORK" ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/corelb-bench-compare.XXXXXX")
else
  mkdir -p "$WORK"
fi
WORK=$(cd "$WORK" && pwd)
: "${JSON:=$WORK/results.json}"
RUNS=$WORK/runs.jsonl          # one line per measured or probing run
SCENS=$WORK/scenarios.jsonl    # one line per scenario: rate chosen, status per proxy
: > "$RUNS"
: > "$SCENS"

# glommio's io_uring rings need locked memory; many connections need descriptors.
ulimit -l unlimited 2>/dev/null || ulimit -l 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PIDS=""
FAILED=0
cleanup() {
  local p
  for p in $PIDS; do kill "$p" 2>/dev/null || true; done
  for p in $PIDS; do
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=""
}
trap 'cleanup' EXIT
trap 'echo "bench-compare: interrupted" >&2; exit 130' INT TERM
track() { PIDS="$PIDS $1"; }
untrack() { # pid
  local p rest=""
  for p in $PIDS; do [ "$p" = "$1" ] || rest="$rest $p"; done
  PIDS=$rest
}
stop_pid() { # pid: TERM, then KILL after 3 s
  kill "$1" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  untrack "$1"
}

# ---------------------------------------------------------------------------------------------
# CPUs: the proxy on its own core(s), the generator and the backends on the others
# ---------------------------------------------------------------------------------------------
expand_cpus() { # "0-2,5" → "0 1 2 5"
  local part out="" IFS=,
  for part in $1; do
    case "$part" in
      *-*) out="$out $(seq -s ' ' "${part%-*}" "${part#*-}")" ;;
      *) out="$out $part" ;;
    esac
  done
  echo "$out"
}
join_cpus() { echo "$*" | tr ' ' ','; }
ALLOWED=$(taskset -cp $$ | sed 's/.*: *//')
read -r -a CPUS <<< "$(expand_cpus "$ALLOWED")"
NCPU=${#CPUS[@]}
if [ -n "$PROXY_CPU_LIST" ]; then
  case "$PROXY_CPU_LIST" in *[!0-9,-]*|'') die "--proxy-cpu-list takes a CPU list such as 1 or 2-3 or 0,2" ;; esac
  read -r -a PROXY_CPU_ARR <<< "$(expand_cpus "$PROXY_CPU_LIST")"
  LOAD_CPU_ARR=()
  for c in "${CPUS[@]}"; do
    case " ${PROXY_CPU_ARR[*]} " in *" $c "*) ;; *) LOAD_CPU_ARR+=("$c") ;; esac
  done
  for c in "${PROXY_CPU_ARR[@]}"; do
    case " ${CPUS[*]} " in *" $c "*) ;; *) die "--proxy-cpu-list: CPU $c is not available here (${CPUS[*]})" ;; esac
  done
  [ "${#LOAD_CPU_ARR[@]}" -ge 1 ] || die "--proxy-cpu-list must leave at least one CPU for the load"
elif [ "$NCPU" -ge 2 ]; then
  # The proxy gets a quarter of the CPUs (at least one); the load generator and the backends
  # cost more per request than the proxy, so they get the rest.
  : "${PROXY_NCPU:=$(( NCPU / 4 > 0 ? NCPU / 4 : 1 ))}"
  [ "$PROXY_NCPU" -lt "$NCPU" ] || die "--proxy-cpus must leave at least one CPU for the load"
  PROXY_CPU_ARR=("${CPUS[@]:NCPU-PROXY_NCPU}")
  LOAD_CPU_ARR=("${CPUS[@]:0:NCPU-PROXY_NCPU}")
fi
if [ "$NCPU" -ge 2 ]; then
  PROXY_NCPU=${#PROXY_CPU_ARR[@]}
  PROXY_CPUS=$(join_cpus "${PROXY_CPU_ARR[@]}")
  PINNED=1
  if [ "$PROXY_NCPU" = 1 ]; then
    CPUMAP="cpu-map 1/1 $PROXY_CPUS"
  else
    CPUMAP="cpu-map auto:1/1-$PROXY_NCPU ${PROXY_CPU_ARR[*]}"
  fi
  PINNING="proxy pinned to CPU $PROXY_CPUS (nbthread $PROXY_NCPU = $PROXY_NCPU corelb shard(s), '$CPUMAP', taskset -c $PROXY_CPUS); generator and backends on CPU $(join_cpus "${LOAD_CPU_ARR[@]}")"
else
  PROXY_NCPU=1
  PROXY_CPUS=$(join_cpus "${CPUS[@]}")
  LOAD_CPU_ARR=("${CPUS[@]}")
  PINNED=0
  CPUMAP="# one CPU: proxy, generator and backends share it (no cpu-map)"
  PINNING="unpinned: one CPU, shared by the proxy (nbthread 1), the generator and the backends"
fi
LOAD_CPUS=$(join_cpus "${LOAD_CPU_ARR[@]}")
NLOAD=${#LOAD_CPU_ARR[@]}

# Backend k of 3 gets its own share of the load CPUs (all of them share one when there is one).
backend_cpus() { # k (0..2)
  local j out=""
  if [ "$NLOAD" -lt 3 ]; then
    echo "${LOAD_CPU_ARR[$(( $1 % NLOAD ))]}"
    return
  fi
  for ((j = $1; j < NLOAD; j += 3)); do out="$out ${LOAD_CPU_ARR[$j]}"; done
  echo "${out# }" | tr ' ' ','
}
# Generator shards: one below 10,000 requests/s (cheaper per request: no cross-core wake-ups,
# bench/README.md), else one per 10,000/s up to the number of load CPUs; full handshakes are
# expensive for the client too, so they get every load CPU.
gen_shards() { # rate scenario
  local n
  if [ "$2" = a ] || [ "$1" = 0 ]; then echo "$NLOAD"; return; fi
  n=$(( ($1 + 9999) / 10000 ))
  [ "$n" -le "$NLOAD" ] || n=$NLOAD
  echo "$n"
}

# ---------------------------------------------------------------------------------------------
# Measuring: CPU ticks from /proc (read with builtins, so no child process is counted)
# ---------------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
TICKS=0
read_ticks() { # pid... → TICKS = sum of utime+stime in clock ticks
  local p line
  local -a f
  TICKS=0
  for p in "$@"; do
    if read -r line < "/proc/$p/stat" 2>/dev/null; then
      read -r -a f <<< "${line##*) }"
      TICKS=$(( TICKS + f[11] + f[12] ))
    fi
  done
}
read_proxy_ticks() { # TICKS = CPU of the proxy: its process and its children (nginx's workers)
  local kids="" f k
  for f in /proc/"$PROXY_PID"/task/*/children; do
    # One line of pids without a newline: read fails at EOF but fills k.
    k=""
    read -r k < "$f" 2>/dev/null || true
    kids="$kids $k"
  done
  # shellcheck disable=SC2086 # a list of pids
  read_ticks "$PROXY_PID" $kids
}
child_cpu() { # file written by the `times` builtin → seconds of reaped children (user + sys)
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }; printf "%.3f", t }' "$1"
}
loadavg() { cut -d' ' -f1 /proc/loadavg; }

wait_listening() { # pid port...: until every port is listening (10 s), or the pid died
  local pid=$1 port
  shift
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    local all=1
    for port in "$@"; do
      [ -n "$(ss -Hltn "sport = :$port")" ] || all=0
    done
    [ "$all" = 1 ] && return 0
    sleep 0.1
  done
  return 1
}

# Listening ports come from below the ephemeral range, so no outgoing connection takes one.
read -r EPHEMERAL_LOW _ < /proc/sys/net/ipv4/ip_local_port_range
if [ "$EPHEMERAL_LOW" -gt 12000 ]; then
  PORT_BASE=10000; PORT_SPAN=$(( EPHEMERAL_LOW - 10000 ))
elif [ "$EPHEMERAL_LOW" -gt 2024 ]; then
  PORT_BASE=1024; PORT_SPAN=$(( EPHEMERAL_LOW - 1024 ))
else
  PORT_BASE=20000; PORT_SPAN=30000   # no room below: rely on the check for a free port
fi
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$(( PORT_BASE + RANDOM % PORT_SPAN ))
    if [ -z "$(ss -Htan "sport = :$p")" ]; then echo "$p"; return; fi
  done
  echo "bench-compare: no free port found" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Certificates, backends
# ---------------------------------------------------------------------------------------------
make_cert() { # name keyargs...: self-signed end-entity certificate (CA:FALSE, SAN) + key in one PEM
  # (valid 90 days: corelb warns about a certificate that expires within 30)
  local name=$1
  shift
  openssl req -x509 "$@" -nodes -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
    -days 90 -keyout "$WORK/$name.key" -out "$WORK/$name.crt" 2>/dev/null
  cat "$WORK/$name.crt" "$WORK/$name.key" > "$WORK/$name.pem"
}
make_cert ecdsa -newkey ec -pkeyopt ec_paramgen_curve:P-256
make_cert rsa -newkey rsa:2048

HTTP_BACKENDS=""     # "127.0.0.1:P1 127.0.0.1:P2 127.0.0.1:P3"
HTTP_BACKEND_PIDS=""
start_http_backends() {
  local k port pid cpus
  for k in 0 1 2; do
    port=$(pick_port)
    cpus=$(backend_cpus "$k")
    taskset -c "$cpus" "$BENCH" serve --listen "127.0.0.1:$port" --name "s$((k + 1))" \
      --shards "$(expand_cpus "$cpus" | wc -w)" > "$WORK/serve-s$((k + 1)).log" 2>&1 &
    pid=$!
    track "$pid"
    wait_listening "$pid" "$port" || { echo "bench-compare: backend s$((k + 1)) did not start:" >&2; cat "$WORK/serve-s$((k + 1)).log" >&2; exit 1; }
    HTTP_BACKENDS="$HTTP_BACKENDS 127.0.0.1:$port"
    HTTP_BACKEND_PIDS="$HTTP_BACKEND_PIDS $pid"
  done
}

# ---------------------------------------------------------------------------------------------
# Configurations and proxies
# ---------------------------------------------------------------------------------------------
render() { # template out key=value...: replaces @KEY@ tokens
  local tpl=$1 out=$2 kv args=()
  shift 2
  args=(-e "s|@NBTHREAD@|$PROXY_NCPU|g" -e "s|@CPUMAP@|$CPUMAP|g")
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$tpl" > "$out"
  if grep -v '^[[:space:]]*#' "$out" | grep -q '@[A-Z0-9]*@'; then
    echo "bench-compare: $out: unreplaced token $(grep -v '^[[:space:]]*#' "$out" | grep -o '@[A-Z0-9]*@' | head -1)" >&2
    exit 1
  fi
}

CHECK_REASON=""
check_config() { # proxy cfg → 0 if the proxy accepts it; else CHECK_REASON
  local out rc=0
  case "$1" in
    haproxy) out=$(haproxy -c -f "$2" 2>&1) || rc=$? ;;
    nginx) out=$(nginx -t -q -c "$2" 2>&1) || rc=$? ;;
    corelb) out=$("$CORELB" -c -f "$2" 2>&1) || rc=$? ;;
    baseline) out=$("$BASELINE" -c -f "$2" 2>&1) || rc=$? ;;
  esac
  if [ "$rc" -ne 0 ]; then
    CHECK_REASON=$(echo "$out" | grep -v ': warning: ' | grep -E '^[^ ]+:[0-9]+: |ALERT' \
      | sed -e "s|$WORK/||" -e 's/^\[ALERT\] *([0-9]*) : //' | head -4 | paste -sd ';' - | sed 's/;/; /g')
    [ -n "$CHECK_REASON" ] || CHECK_REASON=$(echo "$out" | head -2 | paste -sd ' ' -)
    return 1
  fi
  return 0
}

PROXY_PID=""
start_proxy() { # proxy cfg log port...
  local proxy=$1 cfg=$2 log=$3
  shift 3
  case "$proxy" in
    haproxy) taskset -c "$PROXY_CPUS" haproxy -db -f "$cfg" > "$log" 2>&1 & ;;
    # The master stays in the foreground; its workers inherit the CPU set.
    nginx) taskset -c "$PROXY_CPUS" nginx -c "$cfg" -g 'daemon off;' > "$log" 2>&1 & ;;
    corelb) taskset -c "$PROXY_CPUS" "$CORELB" -f "$cfg" > "$log" 2>&1 & ;;
    baseline) taskset -c "$PROXY_CPUS" "$BASELINE" -f "$cfg" > "$log" 2>&1 & ;;
  esac
  PROXY_PID=$!
  track "$PROXY_PID"
  if ! wait_listening "$PROXY_PID" "$@"; then
    echo "bench-compare: $proxy did not start on $cfg:" >&2
    tail -5 "$log" >&2
    stop_pid "$PROXY_PID"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# One HTTP run through a running proxy: open loop at RATE (or closed loop when RATE is 0)
# ---------------------------------------------------------------------------------------------
json_run() { # key=value pairs (numbers or JSON) and s:key=value (strings) → appends to $RUNS
  local args=() obj="{" kv k sep=""
  for kv in "$@"; do
    k=${kv%%=*}
    case "$k" in
      s:*) k=${k#s:}; args+=(--arg "$k" "${kv#*=}"); obj="$obj$sep\"$k\": \$$k" ;;
      *) args+=(--argjson "$k" "${kv#*=}"); obj="$obj$sep\"$k\": \$$k" ;;
    esac
    sep=", "
  done
  jq -cn "${args[@]}" "$obj}" >> "$RUNS"
}

LAST_OK=0        # run verdict for probes: 1 = no errors, rate held, p99 under the limit
LAST_THROUGHPUT=0
attack_args() { # scenario → extra generator flags
  # HTTP/1.1 over TLS unless the scenario is about HTTP/2: the generator offers h2 by default.
  case "$1" in
    a) echo "--keepalive=false --http2=false --root-certs $CERT_ROOT" ;;
    b|e) echo "--http2=false --root-certs $CERT_ROOT" ;;
    c|f) echo "" ;;
    g) echo "--http2 --max-streams $H2_STREAMS --root-certs $CERT_ROOT" ;;
  esac
}
http_run() { # scen id proxy round kind(measure|probe|closed) rate dur targets
  local scen=$1 id=$2 proxy=$3 round=$4 kind=$5 rate=$6 dur=$7 targets=$8
  local out="$WORK/$id-$proxy-$kind-$round-$rate.bin" shards extra rc=0 gpid
  local p0 p1 b0 b1 w0 w1 la0 la1 rate_arg workers_args
  shards=$(gen_shards "$rate" "$scen")
  extra=$(attack_args "$scen")
  local warm=$WARM workers
  if [ "$rate" = 0 ]; then
    rate_arg=0; workers=$CLOSED_WORKERS
  else
    # Open loop: a fixed pool of connections (workers), the same for both proxies. Letting
    # the generator add workers on demand turns a hiccup into a cascade of new connections
    # (TLS handshakes) whose number depends on the hiccup, and that cost lands on the proxy.
    # A request that finds every worker busy waits, and its latency counts from when it
    # was due.
    rate_arg="$rate/1s"
    workers=$(( (rate + 249) / 250 ))
    if [ "$scen" = a ]; then [ "$workers" -ge 32 ] || workers=32; else [ "$workers" -ge 8 ] || workers=8; fi
    # (g): whole connections, each with its H2_STREAMS streams.
    [ "$scen" != g ] || workers=$(( (workers + H2_STREAMS - 1) / H2_STREAMS * H2_STREAMS ))
  fi
  workers_args="--workers $workers --max-workers $workers"
  if [ "$kind" = probe ]; then
    # A probe at a rate far above capacity would take rate × duration / capacity to send:
    # at most 2,000 requests of warm-up and 10,000 measured.
    warm=$(awk -v w="$WARM" -v r="$rate" 'BEGIN { d = 2000 / r; if (d > w) d = w; if (d < 0.1) d = 0.1; printf "%.2f", d }')
    dur=$(awk -v w="$dur" -v r="$rate" 'BEGIN { d = 10000 / r; if (d > w) d = w; if (d < 0.2) d = 0.2; printf "%.2f", d }')
  fi
  # Warm-up at the same load: the proxy's pools and caches, the backends' connections.
  # shellcheck disable=SC2086 # $extra and $workers_args hold several flags
  # In the background and waited for, like the measured run, so that INT/TERM stop it at once.
  timeout -k 5 120 taskset -c "$LOAD_CPUS" "$BENCH" attack --cpus "$shards" --targets "$targets" \
    --rate "$rate_arg" --duration "${warm}s" $workers_args --timeout "$REQ_TIMEOUT" $extra \
    --output /dev/null 2>> "$WORK/attack.log" &
  gpid=$!
  track "$gpid"
  wait "$gpid" || true
  untrack "$gpid"
  la0=$(loadavg)
  read_proxy_ticks; p0=$TICKS
  # shellcheck disable=SC2086 # a list of pids
  read_ticks $HTTP_BACKEND_PIDS; b0=$TICKS
  times > "$WORK/times.0"
  w0=${EPOCHREALTIME/./}
  # shellcheck disable=SC2086 # $extra and $workers_args hold several flags
  timeout -k 5 $(( ${dur%.*} + 120 )) taskset -c "$LOAD_CPUS" "$BENCH" attack --cpus "$shards" \
    --targets "$targets" --rate "$rate_arg" --duration "${dur}s" $workers_args \
    --timeout "$REQ_TIMEOUT" $extra --output "$out" 2>> "$WORK/attack.log" &
  gpid=$!
  track "$gpid"
  wait "$gpid" || rc=$?
  untrack "$gpid"
  w1=${EPOCHREALTIME/./}
  times > "$WORK/times.1"
  read_proxy_ticks; p1=$TICKS
  # shellcheck disable=SC2086 # a list of pids
  read_ticks $HTTP_BACKEND_PIDS; b1=$TICKS
  la1=$(loadavg)
  local gen_cpu report
  gen_cpu=$(awk -v a="$(child_cpu "$WORK/times.0")" -v b="$(child_cpu "$WORK/times.1")" 'BEGIN { printf "%.3f", b - a }')
  # A probe's generator stopped by `timeout` still wrote what it had: an overloaded rate.
  if ! { [ "$rc" -eq 0 ] || [ "$kind" = probe ]; } || ! report=$("$BENCH" report --type json "$out" 2>/dev/null); then
    echo "bench-compare: the generator failed (exit $rc) for $id through $proxy; see $WORK/attack.log" >&2
    report='{"requests":0,"rate":0,"throughput":0,"success":0,"latencies":{},"status_codes":{},"errors":["generator failed"]}'
    FAILED=1
  fi
  rm -f "$out"
  json_run s:scenario="$id" s:proxy="$proxy" round="$round" s:kind="$kind" offered="$rate" \
    duration_s="$dur" wall_us=$(( w1 - w0 )) proxy_ticks=$(( p1 - p0 )) backend_ticks=$(( b1 - b0 )) \
    clk_tck="$CLK_TCK" gen_cpu_s="$gen_cpu" gen_shards="$shards" workers="$workers" \
    load1_start="$la0" load1_end="$la1" report="$report"
  # Verdict: every request answered 2xx/3xx, the offered rate sent, p99 under the limit.
  LAST_THROUGHPUT=$(tail -1 "$RUNS" | jq '.report.throughput | floor')
  LAST_OK=$(tail -1 "$RUNS" | jq --argjson lim "$P99_LIMIT_MS" --argjson r "$rate" \
    '.report as $p | if ($p.requests > 0 and $p.success == 1 and ($r == 0 or $p.rate >= 0.97 * $r)
       and (($p.latencies["99th"] // 0) <= $lim * 1e6)) then 1 else 0 end')
  if [ "$kind" != probe ] && tail -1 "$RUNS" | jq -e '.report | .requests == 0 or .success < 0.99' >/dev/null; then
    echo "bench-compare: ($id) $kind run through $proxy: more than 1 % errors: $(tail -1 "$RUNS" | jq -c '.report.errors[0:3]')" >&2
    FAILED=1
  fi
  # (g) measures HTTP/2: a response over anything else makes the run worthless.
  if [ "$scen" = g ] && tail -1 "$RUNS" | jq -e '.report | (.protocols // {}) | to_entries | any(.key != "HTTP/2.0")' >/dev/null; then
    echo "bench-compare: ($id) $kind run through $proxy: responses not over HTTP/2: $(tail -1 "$RUNS" | jq -c '.report.protocols')" >&2
    FAILED=1; LAST_OK=0
  fi
  local summary
  summary=$(tail -1 "$RUNS" | jq -r '.report as $p | .proxy_ticks as $t | .clk_tck as $c
    | (($p.requests * $p.success) | round) as $ok
    | "\($p.requests) req, \($p.throughput | floor)/s ok, p99 \((($p.latencies["99th"] // 0) / 1e4 | round) / 100) ms, errors \($p.requests - $ok), proxy \(if $ok > 0 then ($t / $c * 1e6 / $ok | round) else "-" end) µs/req"')
  printf '   %-8s %-7s %-8s round %s, %s/s: %s [load %s]\n' "$id" "$proxy" "$kind" "$round" "$rate" "$summary" "$la1" >&2
}

# Before any measured run: does the proxy serve the scenario at all? corelb can accept a
# configuration (`corelb -c`) whose runtime part is not built yet (TLS termination was
# parsed before it was served): then its rows say "not supported yet" instead of failing
# the script. For HTTPS scenarios only: a corelb that stops serving plain HTTP or mode tcp,
# or an HAProxy that does not answer, is a failure. Sets SERVE_REASON when it does not.
SERVE_REASON=""
# With h2=1 (scenario g) the answer must also come over HTTP/2 (ALPN h2): else returns 2 with
# SERVE_REASON "no h2 negotiated".
serve_check() { # proxy cfg port scheme log [h2] → 0 if one request is answered 200
  local proxy=$1 cfg=$2 port=$3 scheme=$4 log=$5 h2=${6:-0} code err out version=""
  SERVE_REASON=""
  if ! start_proxy "$proxy" "$cfg" "$log" "$port"; then
    SERVE_REASON="did not start: $(grep -v ': warning: ' "$log" | tail -2 | paste -sd ' ' -)"
    return 1
  fi
  if [ "$h2" = 1 ]; then
    out=$(curl -sSk --http2 -o /dev/null -w '%{http_code} %{http_version}' --max-time 5 "$scheme://127.0.0.1:$port/" 2> "$log.curl" || true)
    code=${out%% *}; version=${out#* }
  else
    code=$(curl -sSk -o /dev/null -w '%{http_code}' --max-time 5 "$scheme://127.0.0.1:$port/" 2> "$log.curl" || true)
  fi
  stop_pid "$PROXY_PID"
  if [ "$code" = 200 ]; then
    if [ "$h2" = 1 ] && [ "$version" != 2 ]; then
      SERVE_REASON="no h2 negotiated"
      return 2
    fi
    return 0
  fi
  err=$(head -1 "$log.curl")
  SERVE_REASON="does not answer 200 over ${scheme^^} (got ${code:-000}${err:+; $err})"
  return 1
}

# Start the proxy, run the given kind of HTTP run, stop the proxy. Sets LAST_OK.
visit_http() { # scen id proxy cfg port round kind rate dur targets
  local scen=$1 id=$2 proxy=$3 cfg=$4 port=$5 round=$6 kind=$7 rate=$8 dur=$9 targets=${10}
  local scheme=http code
  case "$scen" in a|b|e|g) scheme=https ;; esac
  if ! start_proxy "$proxy" "$cfg" "$WORK/$id-$proxy-$kind-$round.log" "$port"; then
    FAILED=1; LAST_OK=0; LAST_THROUGHPUT=0
    json_run s:scenario="$id" s:proxy="$proxy" round="$round" s:kind="$kind" offered="$rate" s:error="did not start"
    return 1
  fi
  # Functional check: one request through the proxy is answered 200 by a backend.
  code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 "$scheme://127.0.0.1:$port/" || true)
  if [ "$code" != 200 ]; then
    echo "bench-compare: $proxy answered '$code' instead of 200 on $scheme://127.0.0.1:$port/ ($id)" >&2
    stop_pid "$PROXY_PID"
    FAILED=1; LAST_OK=0; LAST_THROUGHPUT=0
    json_run s:scenario="$id" s:proxy="$proxy" round="$round" s:kind="$kind" offered="$rate" s:error="answered $code"
    return 1
  fi
  http_run "$scen" "$id" "$proxy" "$round" "$kind" "$rate" "$dur" "$targets"
  stop_pid "$PROXY_PID"
}

# Round r runs the proxies in order; the first proxy alternates from round to round.
order() { # round: the list rotated by round - 1
  local -a ps
  local n i out=""
  read -r -a ps <<< "$RUNNABLE"
  n=${#ps[@]}
  [ "$n" -gt 0 ] || return 0
  for ((i = 0; i < n; i++)); do out="$out ${ps[$(( (i + $1 - 1) % n ))]}"; done
  echo "${out# }"
}

# The next lower rate on the R10 series, at most `cap` (0 = no cap).
next_rate() { # rate cap
  local r
  for r in $SEED_RATES; do
    if [ "$r" -lt "$1" ] && { [ "$2" -le 0 ] || [ "$r" -le "$2" ]; }; then echo "$r"; return; fi
  done
  echo 0
}
floor_rate() { # rate → the highest R10 value not above it
  local r
  for r in $SEED_RATES; do [ "$r" -gt "$1" ] || { echo "$r"; return; }; done
  echo 0
}

# The configuration each proxy runs in the current scenario: CFG (HAProxy's language, for
# HAProxy and corelb) or NGINX_CFG (empty when the scenario has no nginx equivalent).
CFG=""
NGINX_CFG=""
is_corelb() { [ "$1" = corelb ] || [ "$1" = baseline ]; }
cfg_for() { # proxy
  if [ "$1" = nginx ]; then echo "$NGINX_CFG"; else echo "$CFG"; fi
}
# For a proxy without a configuration for this scenario: its JSON status, and a note.
no_config_status() { # proxy
  echo "   $1: no configuration for this scenario" >&2
  echo "\"$1\": {\"status\": \"skipped\", \"reason\": \"no $1 configuration for this scenario\"}"
}

scenario_http() { # scen id title template cert nginx-template
  local scen=$1 id=$2 title=$3 tpl=$4 cert=$5 ntpl=${6:-}
  local port cfg targets method=GET scheme=http p rate cap cal_note="" ok round
  port=$(pick_port)
  cfg=$WORK/$id.cfg
  CFG=$cfg
  NGINX_CFG=""
  CERT_ROOT=$WORK/$cert.crt
  local -a s
  read -r -a s <<< "$HTTP_BACKENDS"
  render "$REPO/bench/scenarios/$tpl" "$cfg" FRONT="$port" CRT="$WORK/$cert.pem" S1="${s[0]}" S2="${s[1]}" S3="${s[2]}"
  if [ -n "$ntpl" ]; then
    NGINX_CFG=$WORK/$id.nginx.conf
    render "$REPO/bench/scenarios/nginx/$ntpl" "$NGINX_CFG" FRONT="$port" CRT_FILE="$WORK/$cert.crt" \
      KEY_FILE="$WORK/$cert.key" S1="${s[0]}" S2="${s[1]}" S3="${s[2]}" WORK="$WORK" ID="$id" \
      H2LISTEN="$NGINX_H2_LISTEN" H2ON="$NGINX_H2_ON"
  fi
  case "$scen" in a|b|e|g) scheme=https ;; esac
  [ "$scen" = e ] && method=POST
  targets=$WORK/$id.targets
  echo "$method $scheme://127.0.0.1:$port/" > "$targets"
  echo "== ($id) $title — $(basename "$tpl")" >&2

  RUNNABLE=""
  local status=()
  for p in $PROXIES; do
    if [ -z "$(cfg_for "$p")" ]; then
      status+=("$(no_config_status "$p")")
    elif check_config "$p" "$(cfg_for "$p")"; then
      RUNNABLE="$RUNNABLE $p"
    else
      if ! is_corelb "$p"; then
        echo "bench-compare: $p rejects $(cfg_for "$p"): $CHECK_REASON" >&2
        FAILED=1
        status+=("\"$p\": {\"status\": \"failed\", \"reason\": $(jq -Rn --arg r "$CHECK_REASON" '$r')}")
      else
        echo "   corelb cannot run it: $CHECK_REASON" >&2
        status+=("\"$p\": {\"status\": \"unsupported\", \"reason\": $(jq -Rn --arg r "$CHECK_REASON" '$r')}")
      fi
    fi
  done
  RUNNABLE=${RUNNABLE# }
  local serving="" rc h2=0
  [ "$scen" != g ] || h2=1
  for p in $RUNNABLE; do
    rc=0
    serve_check "$p" "$(cfg_for "$p")" "$port" "$scheme" "$WORK/$id-$p-check.log" "$h2" || rc=$?
    if [ "$rc" = 0 ]; then
      serving="$serving $p"
      status+=("\"$p\": {\"status\": \"ran\"}")
    elif [ "$rc" = 2 ] && is_corelb "$p"; then
      echo "   corelb: n/a ($SERVE_REASON)" >&2
      status+=("\"$p\": {\"status\": \"n/a\", \"reason\": $(jq -Rn --arg r "$SERVE_REASON" '$r')}")
    elif is_corelb "$p" && [ "$scheme" = https ] && [ "$rc" = 1 ]; then
      echo "   corelb cannot serve it yet: $SERVE_REASON" >&2
      status+=("\"$p\": {\"status\": \"unsupported\", \"reason\": $(jq -Rn --arg r "corelb -c accepts the configuration, but corelb $SERVE_REASON" '$r')}")
    else
      echo "bench-compare: ($id) $p $SERVE_REASON; see $WORK/$id-$p-check.log" >&2
      FAILED=1
      status+=("\"$p\": {\"status\": \"failed\", \"reason\": $(jq -Rn --arg r "$SERVE_REASON" '$r')}")
    fi
  done
  RUNNABLE=${serving# }

  rate=0
  if [ -n "$RUNNABLE" ]; then
    # (a)-(c), (f), (g) first run closed loop ($CLOSED_WORKERS requests in flight, back to back): the rig's
    # saturation and the cost per request there, reported in a table of their own.
    if [ "$scen" != e ]; then
      for round in $(seq "$ROUNDS"); do
        for p in $(order "$round"); do
          visit_http "$scen" "$id" "$p" "$(cfg_for "$p")" "$port" "$round" closed 0 "$CLOSED_DUR" "$targets" || true
        done
      done
    fi
    # The open-loop rate: --rate override, else 25,000/s for (e), else half the lower of the
    # proxies' median closed-loop rates; then short probes step down until every proxy has
    # no errors, sends the offered rate and keeps its p99 under --p99-limit.
    for o in $RATE_OVERRIDES; do [ "${o%%=*}" = "$scen" ] && rate=${o#*=}; done
    if [ "$rate" = 0 ] && [ "$scen" = e ]; then rate=25000; fi
    if [ "$rate" = 0 ]; then
      local low
      low=$(jq -s --arg id "$id" '[.[] | select(.scenario == $id and .kind == "closed" and .report != null)]
        | group_by(.proxy) | map(map(.report.throughput) | sort | .[(length - 1) / 2 | floor]) | min // 0 | floor' "$RUNS")
      rate=$(floor_rate $(( low / 2 )))
      cal_note="closed loop ($CLOSED_WORKERS in flight) ran at $low/s through the slower proxy"
      [ "$rate" -gt 0 ] || rate=50
    fi
    # Open loop costs the generator 2-4 times more per request than closed loop at moderate
    # rates (bench/README.md), so half the closed-loop rate is only a start: probe, step down.
    while :; do
      ok=1 cap=0
      for p in $(order 1); do
        # A proxy that does not start or answer at all: no lower rate will change that.
        visit_http "$scen" "$id" "$p" "$(cfg_for "$p")" "$port" 0 probe "$rate" "$PROBE_DUR" "$targets" || { ok=2; break; }
        if [ "$LAST_OK" != 1 ]; then
          ok=0
          local c=$(( LAST_THROUGHPUT * 9 / 10 ))
          if [ "$c" -gt 0 ] && { [ "$cap" = 0 ] || [ "$c" -lt "$cap" ]; }; then cap=$c; fi
        fi
      done
      [ "$ok" = 1 ] && break
      if [ "$ok" = 2 ]; then rate=0; break; fi
      rate=$(next_rate "$rate" "$cap")
      if [ "$rate" = 0 ]; then
        echo "bench-compare: ($id) no rate down to 50/s without errors" >&2
        FAILED=1
        break
      fi
      echo "   stepping down to $rate/s" >&2
    done
    if [ "$rate" != 0 ]; then
      for round in $(seq "$ROUNDS"); do
        for p in $(order "$round"); do
          visit_http "$scen" "$id" "$p" "$(cfg_for "$p")" "$port" "$round" measure "$rate" "$DUR" "$targets" || true
        done
      done
    fi
  fi
  local IFS=,
  echo "{\"id\": \"$id\", \"scenario\": \"$scen\", \"title\": $(jq -Rn --arg t "$title" '$t'), \"config\": \"bench/scenarios/$tpl\", \"rendered\": \"$cfg\", \"unit\": \"req\", \"rate\": $rate, \"calibration\": $(jq -Rn --arg t "$cal_note" '$t'), \"proxies\": {${status[*]}}}" >> "$SCENS"
}

# ---------------------------------------------------------------------------------------------
# (d) mode tcp bulk
# ---------------------------------------------------------------------------------------------
scenario_bulk() {
  local id=d title="mode tcp bulk, $BULK_CONNS connections each way" sink_port source_port up down cfg p
  local sink_pid source_pid round
  sink_port=$(pick_port); source_port=$(pick_port); up=$(pick_port); down=$(pick_port)
  cfg=$WORK/d.cfg
  render "$REPO/bench/scenarios/tcp-bulk.cfg" "$cfg" UP="$up" DOWN="$down" \
    SINK="127.0.0.1:$sink_port" SOURCE="127.0.0.1:$source_port"
  CFG=$cfg
  NGINX_CFG=$WORK/d.nginx.conf
  render "$REPO/bench/scenarios/nginx/tcp-bulk.conf" "$NGINX_CFG" UP="$up" DOWN="$down" \
    SINK="127.0.0.1:$sink_port" SOURCE="127.0.0.1:$source_port" WORK="$WORK" ID=d
  echo "== (d) $title — tcp-bulk.cfg" >&2
  local env_check=()
  [ "$BULK_CHECK" = 1 ] || env_check=(TCPBULK_NOCHECK=1)
  env "${env_check[@]}" taskset -c "$LOAD_CPUS" "$TCPBULK" sink "127.0.0.1:$sink_port" > "$WORK/sink.log" 2>&1 &
  sink_pid=$!; track "$sink_pid"
  env "${env_check[@]}" taskset -c "$LOAD_CPUS" "$TCPBULK" source "127.0.0.1:$source_port" "$BULK_BYTES" > "$WORK/source.log" 2>&1 &
  source_pid=$!; track "$source_pid"
  if ! wait_listening "$sink_pid" "$sink_port" || ! wait_listening "$source_pid" "$source_port"; then
    echo "bench-compare: tcpbulk did not start" >&2
    exit 1
  fi

  RUNNABLE=""
  local status=()
  for p in $PROXIES; do
    if check_config "$p" "$(cfg_for "$p")"; then
      RUNNABLE="$RUNNABLE $p"; status+=("\"$p\": {\"status\": \"ran\"}")
    else
      echo "   $p cannot run it: $CHECK_REASON" >&2
      is_corelb "$p" || FAILED=1
      status+=("\"$p\": {\"status\": \"$(is_corelb "$p" && echo unsupported || echo failed)\", \"reason\": $(jq -Rn --arg r "$CHECK_REASON" '$r')}")
    fi
  done
  RUNNABLE=${RUNNABLE# }
  local limit=$(( BULK_BYTES * BULK_CONNS * 2 / (20 << 20) + 30 ))   # at least 20 MiB/s
  for round in $(seq "$ROUNDS"); do
    for p in $(order "$round"); do
      if ! start_proxy "$p" "$(cfg_for "$p")" "$WORK/d-$p-$round.log" "$up" "$down"; then
        FAILED=1
        json_run s:scenario=d s:proxy="$p" round="$round" s:kind=measure s:error="did not start"
        continue
      fi
      local before p0 p1 t0 t1 w0 w1 s0 s1 la0 la1 spid rpid rc_s=0 rc_r=0
      before=$(wc -l < "$WORK/sink.log")
      la0=$(loadavg)
      read_proxy_ticks; p0=$TICKS
      read_ticks "$sink_pid" "$source_pid"; s0=$TICKS
      times > "$WORK/times.0"
      w0=${EPOCHREALTIME/./}
      env "${env_check[@]}" timeout -k 5 "$limit" taskset -c "$LOAD_CPUS" "$TCPBULK" send "127.0.0.1:$up" "$BULK_BYTES" "$BULK_CONNS" > "$WORK/send.out" 2>&1 &
      spid=$!; track "$spid"
      env "${env_check[@]}" timeout -k 5 "$limit" taskset -c "$LOAD_CPUS" "$TCPBULK" recv "127.0.0.1:$down" "$BULK_CONNS" > "$WORK/recv.out" 2>&1 &
      rpid=$!; track "$rpid"
      wait "$spid" || rc_s=$?
      wait "$rpid" || rc_r=$?
      untrack "$spid"; untrack "$rpid"
      w1=${EPOCHREALTIME/./}
      times > "$WORK/times.1"
      read_proxy_ticks; p1=$TICKS
      read_ticks "$sink_pid" "$source_pid"; s1=$TICKS
      la1=$(loadavg)
      t0=$(child_cpu "$WORK/times.0"); t1=$(child_cpu "$WORK/times.1")
      # The sink prints one line per connection once it has read to EOF.
      for _ in $(seq 50); do
        [ $(( $(wc -l < "$WORK/sink.log") - before )) -ge "$BULK_CONNS" ] && break
        sleep 0.1
      done
      stop_pid "$PROXY_PID"
      # Verify: every connection carried BULK_BYTES each way (and the checksum, when checked).
      local want errors=0 up_ok down_ok
      want="$BULK_BYTES bytes"
      if [ "$BULK_CHECK" = 1 ]; then
        want="$want checksum $(sed -n 's/.*checksum \([0-9a-f]*\).*/\1/p' "$WORK/send.out" | tail -1)"
      fi
      up_ok=$(tail -n +"$(( before + 1 ))" "$WORK/sink.log" | grep -c "^sink: $want" || true)
      down_ok=$(grep -c "^recv: $want" "$WORK/recv.out" || true)
      errors=$(( 2 * BULK_CONNS - up_ok - down_ok ))
      if [ "$rc_s" -ne 0 ] || [ "$rc_r" -ne 0 ] || [ "$errors" -ne 0 ]; then
        echo "bench-compare: (d) through $p: send exit $rc_s, recv exit $rc_r, $errors of $(( 2 * BULK_CONNS )) transfers incomplete or corrupted" >&2
        [ "$errors" -gt 0 ] || errors=1
        FAILED=1
      fi
      json_run s:scenario=d s:proxy="$p" round="$round" s:kind=measure bytes=$(( 2 * BULK_BYTES * BULK_CONNS )) \
        transfers=$(( 2 * BULK_CONNS )) errors="$errors" wall_us=$(( w1 - w0 )) proxy_ticks=$(( p1 - p0 )) \
        backend_ticks=$(( s1 - s0 )) clk_tck="$CLK_TCK" \
        gen_cpu_s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" \
        load1_start="$la0" load1_end="$la1" checksums="$BULK_CHECK"
      tail -1 "$RUNS" | jq -r --arg p "$p" --arg r "$round" '(.bytes / 1073741824) as $g
        | "   d        \($p) round \($r): \($g) GiB in \(.wall_us / 1e4 | round / 100) s = \($g / (.wall_us / 1e6) * 100 | round / 100) GiB/s, proxy \(.proxy_ticks / .clk_tck / $g * 1000 | round / 1000) s/GiB, errors \(.errors) [load \(.load1_end)]"' >&2
    done
  done
  stop_pid "$sink_pid"; stop_pid "$source_pid"
  local IFS=,
  echo "{\"id\": \"d\", \"scenario\": \"d\", \"title\": \"$title\", \"config\": \"bench/scenarios/tcp-bulk.cfg\", \"rendered\": \"$cfg\", \"unit\": \"GiB\", \"rate\": 0, \"calibration\": \"\", \"proxies\": {${status[*]}}}" >> "$SCENS"
}

# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------
HAPROXY_VERSION=$(haproxy -v 2>/dev/null | head -1 | awk '{print $3}' || true)
NGINX_VERSION=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p' || true)
# HTTP/2 in nginx: `listen … ssl http2` up to 1.25.0, `listen … ssl` + `http2 on;` from 1.25.1.
if [ -n "$NGINX_VERSION" ] && [ "$(printf '%s\n' 1.25.1 "$NGINX_VERSION" | sort -V | head -1)" = 1.25.1 ]; then
  NGINX_H2_LISTEN="ssl"; NGINX_H2_ON="http2 on;"
else
  NGINX_H2_LISTEN="ssl http2"; NGINX_H2_ON=""
fi
CORELB_VERSION=$("$CORELB" -v 2>/dev/null | awk '{print $3}' || true)
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || GIT_REV="$GIT_REV+dirty"
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
PRODUCT=$(cat /sys/devices/virtual/dmi/id/product_name 2>/dev/null || true)
VIRT=$(systemd-detect-virt 2>/dev/null || true)
if grep -qw hypervisor /proc/cpuinfo; then
  HV=$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor: *//p')
  VIRT="${VIRT:+$VIRT, }virtual machine${HV:+ ($HV)}"
fi
MEM_GB=$(awk '/MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== $START: $NCPU CPUs ($CPU_MODEL), kernel $(uname -r), load average $LOAD_START" >&2
echo "== $PINNING" >&2
echo "== work directory $WORK" >&2

need_http=0
for s in $SCENARIOS; do case "$s" in a|b|c|e|f|g) need_http=1 ;; esac; done
[ "$need_http" = 0 ] || start_http_backends

for s in $SCENARIOS; do
  case "$s" in
    a)
      scenario_http a a-ecdsa "HTTPS, new TLS connection per request, ECDSA P-256" https.cfg ecdsa https.conf
      scenario_http a a-rsa "HTTPS, new TLS connection per request, RSA 2048" https.cfg rsa https.conf ;;
    b) scenario_http b b "HTTPS keep-alive, ECDSA P-256" https.cfg ecdsa https.conf ;;
    c) scenario_http c c "HTTP keep-alive" http.cfg ecdsa http.conf ;;
    d) scenario_bulk ;;
    e) scenario_http e e "seed 003: POST over HTTPS keep-alive, fixed rate" seed003.cfg ecdsa ;;
    f) scenario_http f f "mode tcp, short HTTP keep-alive exchanges" tcp.cfg ecdsa tcp.conf ;;
    g) scenario_http g g "HTTP/2 over HTTPS keep-alive, $H2_STREAMS streams per connection, ECDSA P-256" h2.cfg ecdsa h2.conf ;;
  esac
  echo "   ($s: done at $SECONDS s)" >&2
done
cleanup
END=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Summary: medians over rounds → JSON, then the Markdown tables
# ---------------------------------------------------------------------------------------------
jq -n --slurpfile runs "$RUNS" --slurpfile scens "$SCENS" \
  --arg start "$START" --arg finish "$END" --arg load_start "$LOAD_START" --arg load_end "$LOAD_END" \
  --arg cpu "$CPU_MODEL" --argjson ncpu "$NCPU" --arg kernel "$(uname -r)" --arg product "$PRODUCT" \
  --arg virt "$VIRT" --arg mem "$MEM_GB" --arg pinning "$PINNING" --argjson pinned "$PINNED" \
  --arg proxy_cpus "$PROXY_CPUS" --arg load_cpus "$LOAD_CPUS" --argjson nbthread "$PROXY_NCPU" \
  --arg haproxy "$HAPROXY_VERSION" --arg nginx "$NGINX_VERSION" --arg corelb "$CORELB_VERSION" --arg git "$GIT_REV" \
  --argjson quick "$QUICK" --argjson rounds "$ROUNDS" --argjson dur "$DUR" --arg warm "$WARM" \
  --argjson closed_dur "$CLOSED_DUR" --argjson closed_workers "$CLOSED_WORKERS" \
  --argjson p99_limit_ms "$P99_LIMIT_MS" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def stats: map(select(. != null)) | if length == 0 then null else {median: median, min: min, max: max} end;
  def lat($k): (.report.latencies[$k] // null) | if . then . / 1e6 else null end;
  # Per-run figures.
  def derive:
    if .scenario == "d" then
      (.bytes / 1073741824) as $g
      | . + {gib: $g, rate: ($g / (.wall_us / 1e6)),
             proxy_cost: (.proxy_ticks / .clk_tck / $g), proxy_busy: (.proxy_ticks / .clk_tck / (.wall_us / 1e6)),
             gen_cost: (.gen_cpu_s / $g), backend_cost: (.backend_ticks / .clk_tck / $g)}
    else
      ((.report.requests * .report.success) | round) as $ok
      | . + {ok: $ok, rate: .report.throughput, sent_rate: .report.rate, errors: (.report.requests - $ok),
             p50_ms: lat("50th"), p99_ms: lat("99th"), p999_ms: lat("99.9th"), max_ms: lat("max"),
             proxy_cost: (if $ok > 0 then .proxy_ticks / .clk_tck * 1e6 / $ok else null end),
             proxy_busy: (.proxy_ticks / .clk_tck / (.wall_us / 1e6)),
             gen_cost: (if $ok > 0 then .gen_cpu_s * 1e6 / $ok else null end),
             backend_cost: (if $ok > 0 then .backend_ticks / .clk_tck * 1e6 / $ok else null end)}
    end;
  # The cost of corelb over the cost of a peer, round by round (round r over round r).
  def ratio_to($res; $peer):
    if ($res[$peer].proxy_cost.median // 0) > 0 and $res.corelb.proxy_cost then
      ([range(0; [$res[$peer].runs, $res.corelb.runs | length] | min) as $i
         | select(($res[$peer].runs[$i].proxy_cost // 0) > 0)
         | $res.corelb.runs[$i].proxy_cost / $res[$peer].runs[$i].proxy_cost]
       | if length == 0 then null else
           {median: median, min: min, max: max,
            of_medians: ($res.corelb.proxy_cost.median / $res[$peer].proxy_cost.median)} end)
    else null end;
  # Medians and ranges per proxy over the rounds of one kind, and the cost ratios of corelb.
  def summary($m):
    ([ "haproxy", "nginx", "baseline", "corelb" ] | map(. as $p | ($m | map(select(.proxy == $p)) | sort_by(.round)) as $r
      | select(($r | length) > 0)
      | {key: $p, value: {
          rounds: ($r | length),
          rate: ($r | map(.rate) | stats), errors: ($r | map(.errors) | add),
          requests: ($r | map(.report.requests // .transfers) | add),
          p50_ms: ($r | map(.p50_ms) | stats), p99_ms: ($r | map(.p99_ms) | stats),
          p999_ms: ($r | map(.p999_ms) | stats),
          proxy_cost: ($r | map(.proxy_cost) | stats), proxy_busy: ($r | map(.proxy_busy) | stats),
          gen_cost: ($r | map(.gen_cost) | stats), backend_cost: ($r | map(.backend_cost) | stats),
          error_set: ($r | map(.report.errors // []) | add | unique | .[0:5]),
          load1: ($r | map(.load1_end) | stats),
          runs: $r }}) | from_entries) as $res
    | {results: $res,
       ratio: (ratio_to($res; "haproxy") | if . then {corelb_over_haproxy: .median, min, max, of_medians} else null end),
       ratio_nginx: (ratio_to($res; "nginx") | if . then {corelb_over_nginx: .median, min, max, of_medians} else null end),
       ratio_baseline: (ratio_to($res; "baseline") | if . then {corelb_over_baseline: .median, min, max, of_medians} else null end),
       # Against the cheaper peer of each round.
       ratio_best: (if $res.corelb.proxy_cost and ($res.haproxy.proxy_cost or $res.nginx.proxy_cost) then
         ([range(0; $res.corelb.runs | length) as $i
            | [$res.haproxy.runs[$i].proxy_cost, $res.nginx.runs[$i].proxy_cost] | map(select(. != null and . > 0)) | min as $b
            | select($b != null) | $res.corelb.runs[$i].proxy_cost / $b]
          | if length > 0 then {corelb_over_best: median, min: min, max: max} else null end)
         else null end)};
  ($runs | map(select(.error == null) | derive)) as $all
  | {
      date: $start, finished: $finish,
      machine: {cpu: $cpu, cpus: $ncpu, kernel: $kernel, product: $product, virtualization: $virt,
                memory_gib: ($mem | tonumber), load_average_start: $load_start, load_average_end: $load_end},
      pinning: {pinned: ($pinned == 1), description: $pinning, proxy_cpus: $proxy_cpus,
                load_cpus: $load_cpus, nbthread: $nbthread},
      versions: {haproxy: $haproxy, nginx: $nginx, corelb: $corelb, git: $git},
      method: {quick: ($quick == 1), rounds: $rounds, duration_s: $dur, warmup_s: ($warm | tonumber),
               closed_loop_duration_s: $closed_dur, closed_loop_in_flight: $closed_workers,
               p99_limit_ms: $p99_limit_ms,
               cost: "proxy utime+stime (/proc/PID/stat) over the measured interval: µs per successful request, s per GiB for d",
               order: "the first proxy alternates from round to round (H C, C H, ...)"},
      failed_runs: ($runs | map(select(.error != null))),
      scenarios: [ $scens[] as $s
        | ($all | map(select(.scenario == $s.id))) as $mine
        | $s
        + summary($mine | map(select(.kind == "measure")))
        + {closed_loop: summary($mine | map(select(.kind == "closed"))),
           probes: ($mine | map(select(.kind == "probe"))
                    | map({proxy, offered, rate, errors, p99_ms, proxy_cost, load1_end}))}
      ]
    }' > "$JSON"

# The tables: open loop at a fixed rate (and d), then closed loop.
# shellcheck disable=SC2016 # jq program: its $variables are jq's
TABLE_JQ='
  def f($n): if . == null then "—" else (. * pow(10; $n) | round / pow(10; $n) | tostring) end;
  def g: if . == null then "—" elif . >= 100 then f(0) elif . >= 10 then f(1) else f(2) end;
  def th: tostring | if test("^[0-9]{4,}$") then (explode | reverse | [range(0; length; 3) as $i | .[$i:$i + 3]]
    | map(reverse | implode) | reverse | join(",")) else . end;
  def rng(h): if . == null then "—" elif (.min | h) == (.max | h) then (.median | h)
    else "\(.median | h) (\(.min | h)–\(.max | h))" end;
  def ratio_cell($q): if $q == null then "" else
    "**\($q.median | f(2))×**\(if ($q.min | f(2)) != ($q.max | f(2)) then " (\($q.min | f(2))–\($q.max | f(2)))" else "" end)" end;
  def rows($closed):
    .scenarios[] as $s0
    | select(($closed | not) or $s0.closed_loop.results != {})
    | (if $closed then $s0 + $s0.closed_loop else $s0 end) as $s
    | ($s.unit == "GiB") as $bulk
    | ["haproxy", "nginx", "baseline", "corelb"][] as $p
    | select($s.proxies[$p] != null)
    | $s.proxies[$p] as $st
    | $s.results[$p] as $r
    | ("(\($s.id)) \($s.title)\(if $s.rate > 0 and ($closed | not) then ", \($s.rate | floor | th)/s offered" else "" end)") as $name
    | ({haproxy: "HAProxy", nginx: "nginx", baseline: "corelb (baseline)", corelb: "corelb"}[$p]) as $pn
    | if $st.status != "ran" or $r == null then
        "| \($name) | \($pn) | \(if $st.status == "unsupported" then "**not supported yet**: \($st.reason)"
            elif $st.status == "n/a" then "n/a (\($st.reason))"
            elif $st.status == "skipped" then "not measured: \($st.reason)"
            elif $st.status == "failed" then "**failed**: \($st.reason)" else "**no result** (see the log)" end) | | | | | | | | | | |"
      else
        "| \($name) | \($pn) | \(if $bulk then "\($r.rate.median | f(2)) GiB/s" else "\($r.rate.median | floor | th)/s" end) | \($r.p50_ms | if . then .median | g else "—" end) | \($r.p99_ms | if . then .median | g else "—" end) | \($r.p999_ms | if . then .median | g else "—" end) | \($r.errors) | \(if $bulk then "\($r.proxy_cost | rng(f(3))) s/GiB" else "\($r.proxy_cost | rng(g)) µs" end) | \(if $p == "corelb" then ratio_cell($s.ratio | if . then {median: .corelb_over_haproxy, min, max} else null end) else "" end) | \(if $p == "corelb" then ratio_cell($s.ratio_nginx | if . then {median: .corelb_over_nginx, min, max} else null end) else "" end) | \($r.proxy_busy.median * 100 | round)% | \(if $bulk then "\($r.gen_cost.median | f(2)) s/GiB" else "\($r.gen_cost.median | g) µs" end) | \(if $bulk then "\($r.backend_cost.median | f(2)) s/GiB" else "\($r.backend_cost.median | g) µs" end) |"
      end;
'
HEADER="| scenario | proxy | rate | p50 ms | p99 ms | p99.9 ms | errors | proxy CPU per request | corelb / HAProxy | corelb / nginx | proxy core busy | generator CPU/req | backends CPU/req |
|---|---|---|---|---|---|---|---|---|---|---|---|---|"
echo
echo "### corelb vs HAProxy and nginx, $START"
echo
jq -r '"Machine: \(.machine.cpus) CPUs, \(.machine.cpu)\(if .machine.product != "" then ", \(.machine.product)" else "" end)\(if .machine.virtualization != "" and .machine.virtualization != "none" then " (\(.machine.virtualization))" else "" end), \(.machine.memory_gib) GiB, kernel \(.machine.kernel); load average \(.machine.load_average_start) at the start, \(.machine.load_average_end) at the end.",
  "Versions: HAProxy \(.versions.haproxy), nginx \(.versions.nginx), corelb \(.versions.corelb) (git \(.versions.git)).",
  "Pinning: \(.pinning.description).",
  "Method: \(if .method.quick then "--quick, " else "" end)\(.method.rounds) round(s) per proxy and scenario, the first proxy alternating from round to round; medians over the rounds, range in brackets. Cost = the proxy process'"'"'s utime+stime from /proc/PID/stat per successful request (d: per GiB moved, both directions counted)."' "$JSON"
echo
echo "Open loop at a fixed rate, the same for every proxy ($DUR s per run after ${WARM} s of warm-up); (d) moves ${BULK_CONNS} × $(( BULK_BYTES >> 20 )) MiB each way at once:"
echo
echo "$HEADER"
jq -r "$TABLE_JQ rows(false)" "$JSON"
if jq -e '[.scenarios[].closed_loop.results | length] | add > 0' "$JSON" >/dev/null; then
  echo
  echo "Closed loop, $CLOSED_WORKERS requests in flight back to back ($CLOSED_DUR s per run): the rig's saturation, where latency is queueing in the rig:"
  echo
  echo "$HEADER"
  jq -r "$TABLE_JQ rows(true)" "$JSON"
fi
echo
jq -r '.scenarios[] | select(.unit == "req")
  | "- (\(.id)) \(if .rate > 0 then "open-loop rate \(.rate)/s" else "no open-loop rate" end)\(if .calibration != "" then ": " + .calibration else "" end)\(if (.probes | length) > 0 then "; probes: " + ([.probes[] | "\(.proxy) \(.offered)/s → \(.rate | floor)/s, \(.errors) errors, p99 \(.p99_ms | if . then (. * 10 | round / 10 | tostring) else "—" end) ms"] | join("; ")) else "" end)"' "$JSON"
echo
echo "Ratios: corelb's CPU per request over HAProxy's and over nginx's, medians of the per-round ratios (range); below 1 = corelb cheaper."
if [ -n "$BASELINE" ]; then
  echo
  echo "corelb over the baseline ($BASELINE), CPU per request, median of the per-round ratios (range):"
  jq -r '.scenarios[] as $s | [["fixed rate", $s.ratio_baseline], ["closed loop", $s.closed_loop.ratio_baseline]][]
    | select(.[1] != null) | "- (\($s.id)) \(.[0]): \(.[1].corelb_over_baseline * 100 | round / 100)× (\(.[1].min * 100 | round / 100)–\(.[1].max * 100 | round / 100))"' "$JSON" 2>/dev/null || true
fi
echo "Generator and backend CPU per request show whether the load side was the limit; all numbers: $JSON"
[ "$FAILED" = 0 ] || { echo "bench-compare: some runs failed (see above and $WORK)" >&2; exit 1; }
