#!/bin/sh
# corelb's kTLS integration test, run INSIDE the VM of scripts/ktls-vm-test.sh --corelb
# (busybox sh, a kernel with CONFIG_TLS=m); not meant to run on the host.
#
# Starts `corelb-bench serve` (plain HTTP) and corelb with three TLS frontends whose
# backend is that server:
#   :8412  mode tcp,  ssl-max-ver TLSv1.2  -> TLS 1.2, kTLS, spliced
#   :8413  mode tcp,  default              -> TLS 1.3, kTLS, spliced
#   :8414  mode http, default              -> TLS 1.3, kTLS, read/written by corelb
# then runs bounded `corelb-bench attack`s through each (keep-alive and a new connection
# per request, small bodies, 1 MiB downloads and 1 MiB uploads so that both directions
# carry records), and checks: no failed request, the "kTLS available" start-up line, every
# TLS connection handed to the kernel (none left in rustls), and bytes spliced.
#
# Expects in /data: corelb.cfg, ca.pem, up.bin (the upload body); binaries corelb and
# corelb-bench on PATH. Prints "KTLS-CORELB: ..." lines; exits 0 when everything passed.
set -u

# glommio's io_uring needs locked memory. (busybox ash has `ulimit -l`; POSIX sh need not.)
# shellcheck disable=SC3045
ulimit -l unlimited
log() { echo "KTLS-CORELB: $*"; }
failures=0
bad() {
    log "FAIL: $*"
    failures=$((failures + 1))
}

# Waits until something listens on 127.0.0.1:PORT (from /proc/net/tcp; LISTEN = 0A).
wait_listen() {
    hex=$(printf '%04X' "$1")
    i=0
    while [ $i -lt 300 ]; do
        grep -q "0100007F:$hex 00000000:0000 0A" /proc/net/tcp 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

corelb-bench --cpus 1 serve --listen 127.0.0.1:8080 > /tmp/serve.log 2>&1 &
serve_pid=$!
corelb -d --shards 1 -f /data/corelb.cfg > /tmp/corelb.out 2> /tmp/corelb.log &
corelb_pid=$!
for p in 8080 8412 8413 8414; do
    if ! wait_listen "$p"; then
        log "FAIL: nothing listens on port $p"
        tail -n 30 /tmp/corelb.log /tmp/serve.log
        exit 1
    fi
done
log "$(grep -m1 -o 'kTLS [a-z]* on kernel.*' /tmp/corelb.log)"

# attack NAME PORT KEEPALIVE RATE DURATION METHOD PATH [BODY]
# Sends RATE*DURATION requests to https://127.0.0.1:PORT/PATH and checks the report: no
# error, every status 2xx/3xx, and for downloads and uploads every byte accounted for.
attack() {
    name=$1 port=$2 ka=$3 rate=$4 dur=$5 method=$6 path=$7 body=${8:-}
    {
        echo "$method https://127.0.0.1:$port$path"
        [ -n "$body" ] && echo "@$body"
    } > "/tmp/$name.targets"
    t0=$(date +%s)
    corelb-bench --cpus 1 attack --targets "/tmp/$name.targets" --rate "$rate" \
        --duration "$dur" --keepalive="$ka" --root-certs /data/ca.pem --timeout 60s \
        --output "/tmp/$name.bin" 2> "/tmp/$name.err"
    arc=$?
    corelb-bench report --type json "/tmp/$name.bin" > "/tmp/$name.json" 2>> "/tmp/$name.err"
    j=$(cat "/tmp/$name.json")
    req=$(echo "$j" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
    succ=$(echo "$j" | sed -n 's/.*"success":\([0-9.e+-]*\).*/\1/p')
    codes=$(echo "$j" | sed -n 's/.*"status_codes":{\([^}]*\)}.*/\1/p')
    errs=$(echo "$j" | sed -n 's/.*"errors":\[\(.*\)\].*/\1/p')
    bin=$(echo "$j" | sed -n 's/.*"bytes_in":{"total":\([0-9]*\).*/\1/p')
    bout=$(echo "$j" | sed -n 's/.*"bytes_out":{"total":\([0-9]*\).*/\1/p')
    mean=$(echo "$j" | sed -n 's/.*"latencies":{[^}]*"mean":\([0-9]*\).*/\1/p')
    log "$name: requests=$req success=$succ codes={$codes} bytes_in=$bin bytes_out=$bout errors=[$errs] mean latency $((${mean:-0} / 1000000))ms ($(($(date +%s) - t0))s)"
    if [ "$arc" != 0 ] || [ -z "$req" ] || [ "$req" = 0 ] || [ -n "$errs" ] ||
        { [ "$succ" != 1 ] && [ "$succ" != 1.0 ]; }; then
        bad "$name (attack exit $arc): $(head -c 400 "/tmp/$name.err")"
    fi
    case $path in
        /large*) [ "$bin" = $((req * 1048576)) ] || bad "$name: $bin bytes in, not $req MiB" ;;
    esac
    if [ -n "$body" ] && [ "$bout" != $((req * 1048576)) ]; then
        bad "$name: $bout bytes out, not $req MiB"
    fi
}

for fe in tcp12:8412 tcp13:8413 http13:8414; do
    f=${fe%%:*} p=${fe#*:}
    attack "$f-keepalive" "$p" true 100/1s 2s GET /
    attack "$f-newconn" "$p" false 50/1s 2s GET /
    attack "$f-download" "$p" true 5/1s 2s GET '/large?size=1048576'
    attack "$f-upload" "$p" false 5/1s 2s POST /sink /data/up.bin
done

# A clean stop prints the shard's counters (debug level, -d).
kill -TERM "$corelb_pid"
i=0
while kill -0 "$corelb_pid" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -TERM "$serve_pid" 2>/dev/null

grep -q 'kTLS available on kernel' /tmp/corelb.log || bad "no 'kTLS available on kernel' line"
# Per connection (trace level): "FE/BIND: SRC: TLSv1.x kTLS Tls1x AES-GCM-128 sni=…" or "rustls".
k12=$(grep -c ': TLSv1.2 kTLS ' /tmp/corelb.log)
k13=$(grep -c ': TLSv1.3 kTLS ' /tmp/corelb.log)
user=$(grep -c ': TLSv1.[23] rustls ' /tmp/corelb.log)
log "connections by record layer: TLS 1.2 kTLS $k12, TLS 1.3 kTLS $k13, rustls $user"
[ "$k12" -gt 0 ] || bad "no TLS 1.2 connection went through kTLS"
[ "$k13" -gt 0 ] || bad "no TLS 1.3 connection went through kTLS"
[ "$user" -eq 0 ] || bad "$user TLS connection(s) stayed in rustls"
stats=$(grep -m1 -o 'shard [0-9]*: [0-9]* connections.*' /tmp/corelb.log)
log "$stats"
[ -n "$stats" ] || bad "no shard statistics in corelb's log (did it stop cleanly?)"
spliced=$(echo "$stats" | sed -n 's/.* \([0-9]*\) bytes spliced.*/\1/p')
[ "${spliced:-0}" -gt 0 ] || bad "nothing was spliced"
handed=$(echo "$stats" | sed -n 's/.* \([0-9]*\) kTLS hand-offs.*/\1/p')
[ "${handed:-0}" -gt 0 ] || bad "the shard counted no kTLS hand-off"
grep -E '^\[(WARNING|ALERT)\]' /tmp/corelb.log | head -n 20 | sed 's/^/KTLS-CORELB: corelb: /'
if kill -0 "$corelb_pid" 2>/dev/null; then
    bad "corelb did not stop on SIGTERM"
    kill -KILL "$corelb_pid"
fi

if [ "$failures" -ne 0 ]; then
    log "$failures check(s) failed; the end of corelb's log:"
    tail -n 40 /tmp/corelb.log
    exit 1
fi
log "all checks passed"
