#!/usr/bin/env bash
# TLS costs of corelb and HAProxy on this machine, in one run, the proxy pinned to one core.
#
# For each certificate type (ECDSA P-256, RSA-2048), corelb and HAProxy alternate, each
# serving the same config shape (`bind … ssl crt`, mode http, one `corelb-bench serve`
# backend). The generator and the backend share core 0, the proxy has core 1.
#   - handshake: `corelb-bench attack --keepalive=false` (session tickets off: every request
#     is a full TLS 1.3 handshake plus one small request), closed loop, DUR seconds;
#   - keep-alive: the same over kept-alive connections (CPU per request only);
#   - idle memory: N idle keep-alive connections (one request answered, then nothing), over
#     TLS and plain HTTP, opened by a small Python client; the proxy's RSS growth per
#     connection.
# CPU is the proxy's utime+stime from /proc/PID/stat over the run, divided by the requests.
# Both proxies offer the same key exchange groups (X25519, P-256; HAProxy 2.6's OpenSSL has
# no X25519MLKEM768, which rustls would otherwise pick); a last row shows corelb with its
# default groups (post-quantum hybrid first).
#
# Usage: bench/tls-compare.sh [ROUNDS]   (env: DUR=5 WORKERS=32 IDLE=1000; IDLE_ONLY=1 skips
# the load runs)
set -euo pipefail

ROUNDS=${1:-1}
DUR=${DUR:-5}
WORKERS=${WORKERS:-32}
IDLE=${IDLE:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=$root/target/release
TICK=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ ! -x "$BIN/corelb" ] || [ ! -x "$BIN/corelb-bench" ]; then
    echo "build first: cargo build --release --workspace" >&2
    exit 1
fi
# HAProxy sizes its fd limit from maxconn; corelb and the idle clients need many too.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
command -v haproxy >/dev/null || { echo "haproxy is not installed (apt-get install haproxy)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 cores" >&2; exit 1; }

ext="subjectAltName=DNS:localhost,IP:127.0.0.1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -addext "$ext" -addext basicConstraints=critical,CA:FALSE -days 2 \
    -keyout "$work/ecdsa.key" -out "$work/ecdsa.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
    -addext "$ext" -addext basicConstraints=critical,CA:FALSE -days 2 \
    -keyout "$work/rsa.key" -out "$work/rsa.crt" 2>/dev/null
for k in ecdsa rsa; do cat "$work/$k.crt" "$work/$k.key" > "$work/$k.pem"; done

"$BIN/corelb-bench" serve --cpus 1 --listen 127.0.0.1:0 >"$work/serve.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q 127.0.0.1: "$work/serve.out" && break; sleep 0.1; done
BE=$(grep -o '127.0.0.1:[0-9]*' "$work/serve.out" | head -1 | cut -d: -f2)
PORT=18943

config() { # KEY GROUPS → the config on stdout
    cat <<EOF
global
    nbthread 1
    maxconn 5000
    ${2:+ssl-default-bind-curves $2}
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend fe
    bind 127.0.0.1:$PORT ssl crt $work/$1.pem
    bind 127.0.0.1:$((PORT + 1))
    default_backend be
backend be
    server s1 127.0.0.1:$BE
EOF
}

PROXY_PID=
start_proxy() { # corelb|haproxy KEY GROUPS
    config "$2" "$3" > "$work/p.cfg"
    if [ "$1" = corelb ]; then
        "$BIN/corelb" -f "$work/p.cfg" --cpus 1 >"$work/proxy.log" 2>&1 &
    else
        taskset -c 1 haproxy -f "$work/p.cfg" >"$work/proxy.log" 2>&1 &
    fi
    PROXY_PID=$!
    pids+=("$PROXY_PID")
    for _ in $(seq 100); do
        (echo > "/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "$1 did not start:" >&2; cat "$work/proxy.log" >&2; exit 1
}
stop_proxy() {
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
}
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

run_attack() { # keepalive → "requests errors"
    echo "GET https://127.0.0.1:$PORT/" |
        taskset -c 0 "$BIN/corelb-bench" attack --cpus 1 --rate 0 --max-workers "$WORKERS" \
            --duration "${DUR}s" --keepalive="$1" --http2=false --root-certs "$work/$KEY.crt" \
            --output "$work/r.bin"
    "$BIN/corelb-bench" report --type json < "$work/r.bin" > "$work/r.json"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["requests"], r["requests"]-int(round(r["success"]*r["requests"])))' "$work/r.json"
}

idle_conns() { # tls|plain → KiB of RSS per idle keep-alive connection
    local before after
    before=$(rss_kb "$PROXY_PID")
    python3 - "$PORT" "$IDLE" "$work/$KEY.crt" "$work/idle.ready" "$1" <<'PY' &
import socket, ssl, sys, time
port, n, ca, ready, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
conns = []
for _ in range(n):
    if mode == "tls":
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    else:
        s = socket.create_connection(("127.0.0.1", port + 1))
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    conns.append(s)
open(ready, "w").close()
time.sleep(60)
PY
    local py=$!
    for _ in $(seq 600); do [ -e "$work/idle.ready" ] && break; sleep 0.1; done
    sleep 1
    after=$(rss_kb "$PROXY_PID")
    kill "$py" 2>/dev/null || true
    wait "$py" 2>/dev/null || true
    rm -f "$work/idle.ready"
    sleep 1
    awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f", (a - b) / n }'
}

measure() { # proxy KEY GROUPS label
    local t0 t1 hs ka mem pmem
    # Idle connections first, each on a fresh process (freed memory would hide growth).
    start_proxy "$1" "$2" "$3"
    mem=$(idle_conns tls)
    stop_proxy
    start_proxy "$1" "$2" "$3"
    pmem=$(idle_conns plain)
    stop_proxy
    if [ "${IDLE_ONLY:-0}" = 1 ]; then
        printf '| %-8s | %-6s | %-26s | | | | | | %13s | %11s |\n' "$1" "$KEY" "$4" "$mem" "$pmem"
        return
    fi
    start_proxy "$1" "$2" "$3"
    run_attack false > /dev/null  # warm-up
    t0=$(ticks "$PROXY_PID")
    read -r n_hs e_hs < <(run_attack false)
    t1=$(ticks "$PROXY_PID")
    hs=$(awk -v t=$((t1 - t0)) -v n="$n_hs" -v k="$TICK" 'BEGIN { printf "%.1f", t / k / n * 1e6 }')
    t0=$(ticks "$PROXY_PID")
    read -r n_ka e_ka < <(run_attack true)
    t1=$(ticks "$PROXY_PID")
    ka=$(awk -v t=$((t1 - t0)) -v n="$n_ka" -v k="$TICK" 'BEGIN { printf "%.1f", t / k / n * 1e6 }')
    stop_proxy
    printf '| %-8s | %-6s | %-26s | %9.0f | %13s | %9.0f | %14s | %6s | %13s | %11s |\n' \
        "$1" "$KEY" "$4" "$(awk -v n="$n_hs" -v d="$DUR" 'BEGIN{print n/d}')" "$hs" \
        "$(awk -v n="$n_ka" -v d="$DUR" 'BEGIN{print n/d}')" "$ka" "$((e_hs + e_ka))" "$mem" "$pmem"
}

echo "corelb $("$BIN/corelb" --version 2>&1 | head -1) vs $(haproxy -v | head -1 | cut -d' ' -f1-3); $DUR s runs, $WORKERS workers, proxy on core 1"
echo
echo "| proxy    | cert   | key exchange               | handshakes/s | CPU µs/handshake | keep-alive req/s | CPU µs/request | errors | KiB/idle TLS conn | KiB/idle HTTP conn |"
echo "|----------|--------|----------------------------|-----------:|----------------:|----------:|---------------:|-------:|--------------:|------------:|"
for _ in $(seq "$ROUNDS"); do
    for KEY in ecdsa rsa; do
        measure corelb "$KEY" "X25519:P-256" "X25519, P-256"
        measure haproxy "$KEY" "X25519:P-256" "X25519, P-256"
    done
done
KEY=ecdsa
measure corelb ecdsa "" "default (X25519MLKEM768 first)"
