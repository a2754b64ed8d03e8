#!/bin/bash
# cloud-init user-data for a dedicated corelb EC2 instance (Debian/Ubuntu or Amazon Linux):
# installs corelb, tunes the host, writes a configuration and starts the service.
#
# Terraform: user_data = file("ec2-user-data.sh"), or templatefile() to fill the
# settings below (the seeds pass the backend list the same way). Runs once, as root, at
# first boot; output lands in /var/log/cloud-init-output.log.
#
# Settings (environment variables, or edit the defaults here):
#   CORELB_TARBALL_URL     release tarball (https://, s3:// or file://): bin/corelb,
#                          tuning/, scripts/ha/, docs/ at its top or in one directory
#   CORELB_TARBALL_SHA256  its sha256 (checked when set)
#   CORELB_GIT_URL         no tarball: build from this repository (rustup + cargo)
#   CORELB_GIT_REF         branch or tag to build (default main)
#   CORELB_SERVERS         "IP:PORT IP:PORT ..." for the default configuration
#   CORELB_CONFIG          a whole haproxy.cfg-syntax configuration instead of the default
#   CORELB_CPUS            shard CPUs (default: all online CPUs)
#   CORELB_NIC             NIC whose IRQs are pinned (default: the default route's)
#   CORELB_HA=1            also install keepalived and the AWS CLI (scripts/ha, docs/ec2.md)
# For tests only: CORELB_ROOT (install under this directory), CORELB_SKIP_PACKAGES=1,
# SYSTEMCTL (command used for systemctl), CORELB_SYSCTL_ROOT, CORELB_PROC_ROOT,
# CORELB_SYSFS_ROOT (fake trees for the tuning scripts).
set -eu

CORELB_TARBALL_URL=${CORELB_TARBALL_URL:-}
CORELB_TARBALL_SHA256=${CORELB_TARBALL_SHA256:-}
CORELB_GIT_URL=${CORELB_GIT_URL:-}
CORELB_GIT_REF=${CORELB_GIT_REF:-main}
CORELB_SERVERS=${CORELB_SERVERS:-}
CORELB_CONFIG=${CORELB_CONFIG:-}
CORELB_CPUS=${CORELB_CPUS:-}
CORELB_NIC=${CORELB_NIC:-}
CORELB_HA=${CORELB_HA:-0}
ROOT=${CORELB_ROOT:-}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
SYSCTL_ROOT=${CORELB_SYSCTL_ROOT:-/proc/sys}
PROC_ROOT=${CORELB_PROC_ROOT:-/proc}
SYSFS_ROOT=${CORELB_SYSFS_ROOT:-/sys}

log() { echo "corelb-user-data: $*"; }
die() { echo "corelb-user-data: ERROR: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- packages ---------------------------------------------------------------------------
pkg_install() {
    [ "${CORELB_SKIP_PACKAGES:-0}" = 1 ] && { log "skipping package install: $*"; return; }
    if command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
    elif command -v dnf >/dev/null; then
        dnf install -y -q "$@"
    else
        die "no apt-get or dnf to install $*"
    fi
}

base_pkgs=(curl ca-certificates tar iproute2)
command -v dnf >/dev/null && ! command -v apt-get >/dev/null && base_pkgs=(curl ca-certificates tar iproute)
pkg_install "${base_pkgs[@]}"

# --- corelb itself: release tarball, or build -------------------------------------------
src=""
if [ -n "$CORELB_TARBALL_URL" ]; then
    log "downloading $CORELB_TARBALL_URL"
    case "$CORELB_TARBALL_URL" in
        s3://*) aws s3 cp --only-show-errors "$CORELB_TARBALL_URL" "$work/corelb.tar.gz" ;;
        *) curl -fsSL --retry 5 --retry-connrefused -o "$work/corelb.tar.gz" "$CORELB_TARBALL_URL" ;;
    esac
    if [ -n "$CORELB_TARBALL_SHA256" ]; then
        echo "$CORELB_TARBALL_SHA256  $work/corelb.tar.gz" | sha256sum -c --quiet - ||
            die "sha256 mismatch for $CORELB_TARBALL_URL"
    fi
    mkdir -p "$work/x"
    tar -xzf "$work/corelb.tar.gz" -C "$work/x"
    bin=$(find "$work/x" -maxdepth 3 -path '*/bin/corelb' -type f | head -1)
    [ -n "$bin" ] || die "the tarball has no bin/corelb"
    src=$(dirname "$(dirname "$bin")")
elif [ -n "$CORELB_GIT_URL" ]; then
    pkg_install git gcc make
    if ! command -v cargo >/dev/null; then
        curl -fsSL https://sh.rustup.rs | sh -s -- -y --profile minimal
        # shellcheck disable=SC1091 # written by rustup just above
        . "$HOME/.cargo/env"
    fi
    git clone --depth 1 --branch "$CORELB_GIT_REF" "$CORELB_GIT_URL" "$work/src"
    (cd "$work/src" && cargo build --release --locked -p corelb -p corelb-bench)
    mkdir -p "$work/src/bin"
    cp "$work/src/target/release/corelb" "$work/src/bin/"
    cp "$work/src/target/release/corelb-bench" "$work/src/bin/" 2>/dev/null || true
    src=$work/src
else
    die "set CORELB_TARBALL_URL or CORELB_GIT_URL"
fi
for d in tuning scripts/ha; do [ -d "$src/$d" ] || die "$d missing from the corelb tree"; done

share=$ROOT/usr/local/share/corelb
libexec=$ROOT/usr/local/lib/corelb
mkdir -p "$ROOT/usr/local/bin" "$share" "$libexec" "$ROOT/etc/corelb" "$ROOT/etc/default" \
    "$ROOT/etc/systemd/system" "$ROOT/etc/sysctl.d"
install -m 0755 "$src/bin/corelb" "$ROOT/usr/local/bin/corelb"
[ -f "$src/bin/corelb-bench" ] && install -m 0755 "$src/bin/corelb-bench" "$ROOT/usr/local/bin/corelb-bench"
rm -rf "$share/tuning" "$share/docs"
cp -R "$src/tuning" "$share/tuning"
[ -d "$src/docs" ] && cp -R "$src/docs" "$share/docs"
install -m 0755 "$src"/scripts/ha/*.sh "$libexec/"
cp "$src"/scripts/ha/*.conf.in "$src/scripts/ha/corelb-ha.conf" "$libexec/"
log "installed $("$ROOT/usr/local/bin/corelb" --version 2>/dev/null || echo corelb)"

if ! getent passwd corelb >/dev/null && [ -z "$ROOT" ]; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin corelb
fi

# --- shard CPUs and NIC: one list for corelb and for the IRQ pinning -------------------
if [ -z "$CORELB_NIC" ]; then
    CORELB_NIC=$(ip -o -4 route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
    [ -n "$CORELB_NIC" ] || die "no default route: set CORELB_NIC"
fi
if [ -z "$CORELB_CPUS" ]; then
    CORELB_CPUS=$(cat "$SYSFS_ROOT/devices/system/cpu/online")
fi
cat > "$ROOT/etc/default/corelb" <<EOF
# Read by corelb.service (--cpus) and corelb-tuning.service (irq-affinity.sh): the shards
# and the NIC's queue interrupts use the same CPUs.
CORELB_CPUS=$CORELB_CPUS
CORELB_NIC=$CORELB_NIC
CORELB_SYSCTL_PROFILE=balancer
EOF
log "shards on CPUs $CORELB_CPUS, NIC $CORELB_NIC"

# --- configuration ------------------------------------------------------------------------
cfg=$ROOT/etc/corelb/corelb.cfg
if [ -n "$CORELB_CONFIG" ]; then
    printf '%s\n' "$CORELB_CONFIG" > "$cfg"
elif [ ! -e "$cfg" ]; then
    [ -n "$CORELB_SERVERS" ] || die "set CORELB_SERVERS (\"IP:PORT ...\") or CORELB_CONFIG"
    {
        echo "# Written by ec2-user-data.sh. HAProxy syntax; check with: corelb -c -f $cfg"
        echo "defaults"
        echo "    mode tcp"
        echo "    timeout connect 5s"
        echo "    timeout client 60s"
        echo "    timeout server 60s"
        echo ""
        echo "frontend web"
        echo "    bind :80"
        echo "    default_backend app"
        echo ""
        echo "backend app"
        echo "    balance roundrobin"
        echo "    retries 3"
        echo "    option redispatch"
        n=1
        for s in $CORELB_SERVERS; do
            echo "    server app$n $s"
            n=$((n + 1))
        done
    } > "$cfg"
fi
"$ROOT/usr/local/bin/corelb" -c -f "$cfg" || die "corelb rejects $cfg"

# --- tuning ---------------------------------------------------------------------------------
# A kernel without some key exits 1 after applying the rest: reported, not fatal.
"$share/tuning/apply.sh" --persist --persist-dir "$ROOT/etc/sysctl.d" --sysctl-root "$SYSCTL_ROOT" ||
    log "some sysctl keys could not be applied (see above)"
# Applied now and at every boot by corelb-tuning.service; the unit runs it again.
"$share/tuning/irq-affinity.sh" --proc-root "$PROC_ROOT" --sysfs-root "$SYSFS_ROOT" \
    --cpus "$CORELB_CPUS" "$CORELB_NIC" || log "IRQ pinning incomplete (see above)"

# --- HA (optional) ----------------------------------------------------------------------------
if [ "$CORELB_HA" = 1 ]; then
    pkg_install keepalived
    # Amazon Linux 2023 ships the AWS CLI v2; Debian/Ubuntu package it as awscli.
    if ! command -v aws >/dev/null; then
        if command -v apt-get >/dev/null; then pkg_install awscli; else pkg_install awscli-2; fi
    fi
    log "keepalived installed; render its configuration with $libexec/render.sh (docs/ec2.md)"
fi

# --- service ----------------------------------------------------------------------------------
install -m 0644 "$share/tuning/systemd/corelb.service" "$share/tuning/systemd/corelb-tuning.service" \
    "$ROOT/etc/systemd/system/"
"$SYSTEMCTL" daemon-reload
"$SYSTEMCTL" enable --now corelb-tuning.service corelb.service
log "corelb started: systemctl status corelb"
