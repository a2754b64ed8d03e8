#!/usr/bin/env bash
# Capacity of corelb-bench (generator and backend) on this machine, side by side with wrk.
#
# Method: one `corelb-bench serve` (all cores); against it, in turn and for DUR seconds each,
# wrk and `corelb-bench attack` in closed loop (-rate 0) with the same number of connections,
# for HTTP and HTTPS, keep-alive and a new connection per request. For each run:
#   - requests/s achieved (both tools and serve share the machine's cores);
#   - the load generator's CPU (user+sys, GNU time) per request → requests per CPU-second,
#     i.e. what one fully used core would sustain;
#   - serve's CPU per request, from /proc/PID/stat (utime+stime) before and after.
# On loopback the sender's CPU also pays for the receiver's TCP processing (softirq), so the
# per-request costs include kernel work on both sides; compare the tools as ratios.
#
# Usage: bench/measure.sh [ROUNDS]   (env: DUR=5 CONNS=64 BIN=target/release/corelb-bench)
set -euo pipefail

ROUNDS=${1:-1}
DUR=${DUR:-5}
CONNS=${CONNS:-64}
BIN=${BIN:-target/release/corelb-bench}
THREADS=$(nproc)
TICK=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

[ -x "$BIN" ] || { echo "build first: cargo build --release -p corelb-bench" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

# ECDSA P-256, the common choice; CA:FALSE because webpki refuses a CA as the server itself.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
  -days 1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

start_serve() { # $1 = extra args; sets SERVE_PID, PORT
  # shellcheck disable=SC2086 # $1 holds several flags, split on purpose
  "$BIN" serve --listen 127.0.0.1:0 $1 >"$work/serve.out" 2>&1 &
  SERVE_PID=$!
  pids+=("$SERVE_PID")
  for _ in $(seq 50); do
    grep -q listening "$work/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  PORT=$(grep -o '127.0.0.1:[0-9]*' "$work/serve.out" | cut -d: -f2)
}

ticks() { # utime+stime of PID, in clock ticks (fields 14, 15 after the command name)
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

row() { # name tool requests gen_cpu_s serve_ticks
  awk -v n="$1" -v t="$2" -v r="$3" -v c="$4" -v s="$5" -v d="$DUR" -v tick="$TICK" 'BEGIN {
    printf "%-26s %-13s %10.0f %14.0f %14.1f %14.1f\n", n, t, r / d,
      (c > 0 ? r / c : 0), (r > 0 ? c / r * 1e6 : 0), (r > 0 ? s / tick / r * 1e6 : 0) }'
}

run_pair() { # name scheme wrk_header|"" extra_attack_args
  local name=$1 scheme=$2 wrk_header=$3 attack_extra=$4
  local wrk_extra=()
  [ -n "$wrk_header" ] && wrk_extra=(-H "$wrk_header")
  local url="$scheme://127.0.0.1:$PORT/"
  local s0 s1 out cpu req

  s0=$(ticks "$SERVE_PID")
  out=$(/usr/bin/time -f "CPU %U %S" wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" "${wrk_extra[@]}" "$url" 2>&1)
  s1=$(ticks "$SERVE_PID")
  req=$(echo "$out" | awk '/requests in/ {print $1}')
  cpu=$(echo "$out" | awk '/^CPU/ {print $2 + $3}')
  row "$name" wrk "${req:-0}" "$cpu" $((s1 - s0))

  s0=$(ticks "$SERVE_PID")
  # shellcheck disable=SC2086 # $attack_extra holds several flags, split on purpose
  out=$(echo "GET $url" | /usr/bin/time -f "CPU %U %S" "$BIN" attack -rate=0 \
    -max-workers="$CONNS" -duration="${DUR}s" $attack_extra -output "$work/r.bin" 2>&1)
  s1=$(ticks "$SERVE_PID")
  req=$("$BIN" report -type=json "$work/r.bin" | jq '.status_codes["200"] // 0')
  cpu=$(echo "$out" | awk '/^CPU/ {print $2 + $3}')
  row "$name" corelb-bench "$req" "$cpu" $((s1 - s0))
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), DUR=${DUR}s CONNS=$CONNS, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-26s %-13s %10s %14s %14s %14s\n" scenario tool "req/s" "req/CPU-s" "gen µs/req" "serve µs/req"
for _ in $(seq "$ROUNDS"); do
  start_serve ""
  run_pair "http keep-alive" http "" ""
  run_pair "http new connection" http "Connection: close" "-keepalive=false"
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
  start_serve "--tls-cert $work/cert.pem --tls-key $work/key.pem"
  # wrk speaks HTTP/1.1: so does the generator here (no h2 offered over ALPN).
  run_pair "https keep-alive" https "" "-root-certs $work/cert.pem -http2=false"
  run_pair "https new connection" https "Connection: close" "-root-certs $work/cert.pem -keepalive=false -http2=false"
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
done
