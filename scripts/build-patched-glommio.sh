#!/usr/bin/env bash
# Builds corelb, corelb-bench and examples/tcpbulk against glommio 0.9.0 with
# docs/patches/glommio-0.9.0-reactor.patch applied (fewer io_uring_enter calls and no
# membarrier per turn of the executor loop; docs/benchmarks.md, "The executor loop").
# The default build is not changed: the binaries go to target/glommio-patched/release, so
# that the two builds can be compared side by side:
#
#   scripts/build-patched-glommio.sh
#   scripts/bench-compare.sh --bin-dir target/glommio-patched/release --scenarios b,c
#
#   scripts/build-patched-glommio.sh [--check]   (--check: only verify that the patch applies)
set -eu
cd "$(dirname "$0")/.."
REPO=$(pwd)
PATCH=$REPO/docs/patches/glommio-0.9.0-reactor.patch
OUT=$REPO/target/glommio-patched
CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "build-patched-glommio.sh: unknown argument $1" >&2; exit 2 ;;
esac
command -v cargo >/dev/null 2>&1 || { echo "build-patched-glommio.sh: cargo is needed" >&2; exit 1; }
if ! command -v patch >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "build-patched-glommio.sh: 'patch' is needed (apt-get install patch)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq patch >/dev/null
fi

# The glommio source cargo resolved for this lockfile (downloaded if it is not there yet).
cargo fetch -q
manifest=$(cargo metadata --format-version 1 2>/dev/null | tr ',' '\n' |
  sed -n 's/^"manifest_path":"\(.*\/glommio-[^/]*\/Cargo\.toml\)"$/\1/p' | head -n 1)
src=$(dirname "$manifest")
case "$src" in
  */glommio-0.9.0) ;;
  *) echo "build-patched-glommio.sh: the patch is for glommio 0.9.0; the lockfile has '$src'" >&2; exit 1 ;;
esac

mkdir -p "$OUT"
rm -rf "$OUT/glommio-0.9.0"
cp -r "$src" "$OUT/glommio-0.9.0"
if [ "$CHECK" = 1 ]; then
  patch -s -p1 --dry-run -d "$OUT/glommio-0.9.0/src" < "$PATCH"
  echo "build-patched-glommio.sh: the patch applies to $src"
  exit 0
fi
patch -s -p1 -d "$OUT/glommio-0.9.0/src" < "$PATCH"
# Building with a [patch] rewrites Cargo.lock (glommio's source becomes the path): put the
# project's lockfile back afterwards, so that the default build stays as it was.
cp Cargo.lock "$OUT/Cargo.lock.orig"
trap 'cp "$OUT/Cargo.lock.orig" Cargo.lock' EXIT
echo "== building against the patched glommio in $OUT/glommio-0.9.0 (glommio 0.9.0 itself warns twice: in_kernel, into_raw_fd)" >&2
CARGO_TARGET_DIR=$OUT cargo build --release -q -p corelb -p corelb-bench --bins --example tcpbulk \
  --config "patch.crates-io.glommio.path=\"$OUT/glommio-0.9.0\""
echo "build-patched-glommio.sh: binaries in $OUT/release (corelb, corelb-bench, examples/tcpbulk)"
