#!/usr/bin/env bash
# Runs kTLS tests inside a QEMU VM booting Debian's own kernel (CONFIG_TLS=m), because the
# build machines' kernel has no kTLS and their KVM hangs at boot: QEMU runs with -accel tcg.
#
# The VM is an initramfs only: busybox, the binaries under test with the libraries ldd
# names, and the kernel's tls and crypto modules. Its /init brings up loopback, runs each
# command, prints "KTLS-VM: run N rc=X" per command on the serial console, and powers off.
# This script parses that console; it passes when every command exited 0.
#
# Usage: scripts/ktls-vm-test.sh [options]
#   --bin PATH         put a binary in the VM as /bin/<name> (repeatable); its libraries
#                      come along. Default: builds and runs examples/ktls_selftest.rs.
#   --file SRC[:DEST]  put a file in the VM (DEST defaults to /data/<name>) (repeatable)
#   --run CMD          a shell command to run in the VM (repeatable; default: the first
#                      --bin, or ktls_selftest)
#   --corelb           run corelb's kTLS integration test instead of the self-test:
#                      corelb and corelb-bench (release builds) with a CA and an ECDSA
#                      certificate made here with openssl, TLS 1.2 and 1.3 mode tcp
#                      (spliced) and mode http frontends, both directions; the VM side is
#                      scripts/ktls-vm-corelb.sh (read it for what is checked)
#   --corelb-bins DIR  with --corelb: take corelb and corelb-bench from DIR instead of
#                      building them (cargo build --release) into target/release
#   --kernel-pkg PKG   Debian kernel package (default: what linux-image-amd64 depends on)
#   --timeout SECS     limit for the whole VM run (default 300)
#   --smp N            virtual CPUs (default 1; TCG runs them on host threads)
#   --cache DIR        where the kernel package is kept (default /var/tmp/corelb-ktls-vm)
#   --keep             keep the work directory (initramfs, serial log)
#
# Exit status: 0 pass; 1 fail; 0 with a line "SKIP: …" when QEMU, busybox-static, cpio or
# the kernel package are not available here — unless KTLS_VM_REQUIRED=1, which turns a skip
# into a failure (for CI machines that install them: apt-get install qemu-system-x86
# busybox-static cpio).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bins=()
files=()
runs=()
kernel_pkg=""
timeout_s=300
cache=/var/tmp/corelb-ktls-vm
keep=0
corelb=0
smp=1
corelb_bins=""

while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bins+=("$2"); shift 2 ;;
        --file) files+=("$2"); shift 2 ;;
        --run) runs+=("$2"); shift 2 ;;
        --kernel-pkg) kernel_pkg=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --cache) cache=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        --corelb) corelb=1; shift ;;
        --corelb-bins) corelb_bins=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "ktls-vm-test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

skip() {
    echo "SKIP: kTLS VM test: $*"
    if [ "${KTLS_VM_REQUIRED:-0}" = 1 ]; then
        echo "ktls-vm-test: KTLS_VM_REQUIRED=1: a skip is a failure" >&2
        exit 1
    fi
    exit 0
}
fail() {
    echo "FAIL: kTLS VM test: $*"
    exit 1
}

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || skip "needs Linux on x86_64 (this is $(uname -s)/$(uname -m))"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
command -v cpio >/dev/null || skip "cpio not installed (apt-get install cpio)"
command -v dpkg-deb >/dev/null || skip "dpkg-deb not found (a Debian system is needed for the kernel package)"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || skip "busybox not installed (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
    skip "$busybox is dynamically linked (apt-get install busybox-static)"
fi

# The kernel: Debian's, unpacked once into the cache.
mkdir -p "$cache"
if [ -z "$kernel_pkg" ]; then
    kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$kernel_pkg" ] || skip "cannot resolve linux-image-amd64 (run apt-get update)"
fi
kdir="$cache/$kernel_pkg"
# The first existing path among the glob's matches (globs sort), or nothing.
first() {
    local f
    for f in "$@"; do
        [ -e "$f" ] && { printf '%s\n' "$f"; return 0; }
    done
    return 0
}
if [ ! -d "$kdir/boot" ]; then
    deb=$(first "$cache/${kernel_pkg}"_*.deb)
    if [ -z "$deb" ]; then
        echo "ktls-vm-test: downloading $kernel_pkg"
        (cd "$cache" && apt-get download "$kernel_pkg" >/dev/null 2>&1) ||
            skip "cannot download $kernel_pkg (apt-get download failed: no package source?)"
        deb=$(first "$cache/${kernel_pkg}"_*.deb)
        [ -n "$deb" ] || skip "apt-get download left no $kernel_pkg package in $cache"
    fi
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
    dpkg-deb -x "$deb" "$kdir.tmp"
    mv "$kdir.tmp" "$kdir"
fi
vmlinuz=$(first "$kdir"/boot/vmlinuz-*)
[ -n "$vmlinuz" ] || fail "$kernel_pkg has no /boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
moddir="$kdir/lib/modules/$kver"
[ -f "$moddir/kernel/net/tls/tls.ko" ] || [ -f "$moddir/kernel/net/tls/tls.ko.xz" ] ||
    fail "$kernel_pkg has no tls module"

# corelb's integration test: the release binaries.
if [ "$corelb" = 1 ]; then
    command -v openssl >/dev/null || skip "openssl not installed (apt-get install openssl)"
    if [ -z "$corelb_bins" ]; then
        echo "ktls-vm-test: building corelb and corelb-bench (release)"
        (cd "$root" && cargo build -q --release --bin corelb --bin corelb-bench) ||
            fail "cannot build corelb and corelb-bench"
        corelb_bins=$root/target/release
    fi
    bins+=("$corelb_bins/corelb" "$corelb_bins/corelb-bench")
    if [ ${#runs[@]} -eq 0 ]; then
        runs=("sh /data/ktls-vm-corelb.sh")
    fi
fi

# The default test program.
if [ ${#bins[@]} -eq 0 ]; then
    echo "ktls-vm-test: building examples/ktls_selftest"
    (cd "$root" && cargo build -q --example ktls_selftest) || fail "cannot build the self-test"
    bins=("$root/target/debug/examples/ktls_selftest")
fi
if [ ${#runs[@]} -eq 0 ]; then
    runs=("/bin/$(basename "${bins[0]}")")
fi

work=$(mktemp -d /tmp/ktls-vm.XXXXXX)
cleanup() { if [ "$keep" = 1 ]; then echo "ktls-vm-test: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
rfs="$work/root"

# corelb's test: certificates, configuration and an upload body, made here; the test
# itself is scripts/ktls-vm-corelb.sh.
if [ "$corelb" = 1 ]; then
    gen="$work/gen"
    mkdir -p "$gen"
    (
        cd "$gen"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
            -subj "/CN=corelb kTLS test CA" -keyout ca.key -out ca.pem \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=localhost" -keyout site.key -out site.csr
        printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature \
            extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1,DNS:localhost > site.ext
        openssl x509 -req -in site.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
            -extfile site.ext -out site.crt
        cat site.crt site.key > site.pem
        head -c 1048576 /dev/urandom > up.bin
    ) > "$work/openssl.log" 2>&1 ||
        { cat "$work/openssl.log"; fail "openssl could not make the test certificates"; }
    cat > "$gen/corelb.cfg" <<'EOF'
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
# TLS 1.2, records in the kernel, spliced to the server.
frontend tcp12
    bind 127.0.0.1:8412 ssl crt /data/site.pem ssl-max-ver TLSv1.2
    default_backend plain
# TLS 1.3 (the default), the same way.
frontend tcp13
    bind 127.0.0.1:8413 ssl crt /data/site.pem
    default_backend plain
# TLS 1.3 in mode http: corelb reads and writes the kTLS socket itself.
frontend https
    mode http
    bind 127.0.0.1:8414 ssl crt /data/site.pem
    default_backend web
backend plain
    server s1 127.0.0.1:8080
backend web
    mode http
    server s1 127.0.0.1:8080
EOF
    files+=("$gen/ca.pem" "$gen/site.pem" "$gen/up.bin" "$gen/corelb.cfg"
        "$root/scripts/ktls-vm-corelb.sh")
fi
mkdir -p "$rfs"/{bin,sbin,proc,sys,dev,tmp,data,etc,lib/modules}
cp "$busybox" "$rfs/bin/busybox"
ln -s busybox "$rfs/bin/sh"

copy_with_libs() { # SRC DEST
    cp "$1" "$rfs$2"
    chmod +x "$rfs$2"
    ldd "$1" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
        [ -f "$lib" ] || continue
        mkdir -p "$rfs$(dirname "$lib")"
        cp -L "$lib" "$rfs$lib"
    done
}
for b in "${bins[@]}"; do
    [ -x "$b" ] || fail "binary '$b' not found or not executable"
    copy_with_libs "$b" "/bin/$(basename "$b")"
done
for f in "${files[@]+"${files[@]}"}"; do
    src=${f%%:*}
    dest=/data/$(basename "$src")
    [ "$src" != "$f" ] && dest=${f#*:}
    mkdir -p "$rfs$(dirname "$dest")"
    cp -r "$src" "$rfs$dest"
done

# Only what kTLS needs: the tls module and the crypto it may load (AES-GCM, CHACHA20).
mkdir -p "$rfs/lib/modules/$kver/kernel"
for d in net/tls crypto arch/x86/crypto lib/crypto; do
    if [ -d "$moddir/kernel/$d" ]; then
        mkdir -p "$rfs/lib/modules/$kver/kernel/$d"
        cp -r "$moddir/kernel/$d/." "$rfs/lib/modules/$kver/kernel/$d/"
    fi
done
cp "$moddir"/modules.order "$moddir"/modules.builtin* "$rfs/lib/modules/$kver/" 2>/dev/null || true

printf '%s\n' "${runs[@]}" > "$rfs/runs"
cat > "$rfs/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
ln -s /bin/busybox /sbin/modprobe
export PATH=/bin:/sbin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ifconfig lo 127.0.0.1 up
# The kernel autoloads 'tls' (alias tcp-ulp-tls) and the AEADs through /sbin/modprobe on
# first use, as on a real host: no module is loaded by hand here.
depmod
echo /sbin/modprobe > /proc/sys/kernel/modprobe
echo "KTLS-VM: kernel $(uname -r), available ULPs before: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
i=0
while read -r cmd; do
    i=$((i + 1))
    echo "KTLS-VM: run $i: $cmd"
    (cd /data && sh -c "$cmd")
    echo "KTLS-VM: run $i rc=$?"
done < /runs
echo "KTLS-VM: modules loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
echo "KTLS-VM: DONE"
poweroff -f
EOF
chmod +x "$rfs/init"
(cd "$rfs" && find . | cpio -o -H newc --quiet | gzip -1 > "$work/initrd.gz")

echo "ktls-vm-test: booting $kver in QEMU (TCG), up to ${timeout_s}s"
start=$(date +%s)
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -smp "$smp" -m 768 \
    -nographic -no-reboot -nic none \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 rdinit=/init quiet loglevel=3" \
    < /dev/null > "$work/serial.log" 2>&1
qrc=$?
set -e
elapsed=$(( $(date +%s) - start ))
# The console carries terminal escapes from the firmware and the kernel: strip them.
tr -d '\r' < "$work/serial.log" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1b[a-zA-Z]//g' > "$work/console.log"
grep -aE '^(KTLS-VM|KTLS-SELFTEST|KTLS-CORELB)' "$work/console.log" || true

if ! grep -aq '^KTLS-VM: DONE' "$work/console.log"; then
    echo "--- last lines of the serial console ---"
    tail -n 40 "$work/console.log"
    if grep -aqiE 'could not (initialize|access) KVM|failed to initialize' "$work/console.log"; then
        skip "QEMU could not start here (exit $qrc)"
    fi
    fail "the VM did not finish (qemu exit $qrc after ${elapsed}s)"
fi
nruns=$(grep -ac '^KTLS-VM: run [0-9]* rc=' "$work/console.log")
nbad=$(grep -a '^KTLS-VM: run [0-9]* rc=' "$work/console.log" | grep -vc 'rc=0$' || true)
if [ "$nruns" -ne "${#runs[@]}" ] || [ "$nbad" -ne 0 ]; then
    fail "$nbad of ${#runs[@]} command(s) failed in the VM (${elapsed}s)"
fi
echo "PASS: kTLS VM test: ${#runs[@]} command(s) passed on $kver (${elapsed}s)"
