#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run). On a fresh Debian machine, as root, it
# installs the system tools the tests use first.
set -eu
cd "$(dirname "$0")/.."

# Tools the integration tests drive: real clients, real servers, HAProxy for differential
# tests, redis-server for the predefined health checks' test, keepalived and iproute2 for
# the HA test, shellcheck for the scripts, QEMU with busybox and cpio for the kTLS test (a
# VM booting Debian's kernel, which has kTLS), nginx with its stream module as the second
# peer of the benchmark comparison, prometheus (its server and promtool) for the exporter's
# test.
pkgs="curl openssl jq nghttp2-client nghttp2-server haproxy redis-server nginx-light libnginx-mod-stream keepalived iproute2 shellcheck util-linux procps systemd
  qemu-system-x86 busybox-static cpio prometheus"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: missing packages:$missing (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "scripts/test.sh: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian starts the services it installs; the tests start their own instances.
for svc in haproxy nginx keepalived prometheus redis-server; do
  systemctl stop "$svc" 2>/dev/null || service "$svc" stop 2>/dev/null || true
done

# glommio's io_uring shards need locked memory; the tests open thousands of sockets.
ulimit -l unlimited 2>/dev/null || ulimit -l 65536 2>/dev/null || true
ulimit -n 65536 2>/dev/null || true

# The tests want optimised code, not the shipped binary's link-time optimisation and debug
# info: without them a clean build of every target takes 280 s instead of 720 s on 2 cores.
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-off}"
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-16}"
cargo test --release --workspace --all-targets --no-fail-fast "$@"
