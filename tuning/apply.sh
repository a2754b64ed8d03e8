#!/bin/bash
# Apply (or check) a corelb sysctl profile from tuning/sysctl/NAME.conf.
#
#   tuning/apply.sh [--check] [--profile NAME|FILE] [--persist] [--persist-dir DIR]
#                   [--sysctl-root DIR]
#
# Prints one line per key: current -> target and what was done. Exit status:
#   0  every key is at its target (after applying, or already, with --check)
#   1  --check: some key drifts from its target, or a mandatory key is absent
#      apply:   some key could not be set or is absent from this kernel
#   2  usage or profile error
# Keys the kernel lacks are reported and skipped, never silently.
# --sysctl-root and --persist-dir point it at a fake tree (tests) instead of the host.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
check=0
profile=balancer
persist=0
persist_dir=/etc/sysctl.d
sysctl_root=/proc/sys

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --check) check=1 ;;
        --profile) [ $# -ge 2 ] || usage; profile=$2; shift ;;
        --profile=*) profile=${1#*=} ;;
        --persist) persist=1 ;;
        --persist-dir) [ $# -ge 2 ] || usage; persist_dir=$2; shift ;;
        --persist-dir=*) persist_dir=${1#*=} ;;
        --sysctl-root) [ $# -ge 2 ] || usage; sysctl_root=$2; shift ;;
        --sysctl-root=*) sysctl_root=${1#*=} ;;
        -h|--help) usage ;;
        *) echo "apply.sh: unknown argument: $1" >&2; usage ;;
    esac
    shift
done

if [ "$check" = 1 ] && [ "$persist" = 1 ]; then
    echo "apply.sh: --check only reports; it cannot be combined with --persist" >&2
    exit 2
fi

case "$profile" in
    */*) profile_file=$profile ;;
    *) profile_file=$here/sysctl/$profile.conf ;;
esac
if [ ! -r "$profile_file" ]; then
    known=""
    for f in "$here"/sysctl/*.conf; do known="$known $(basename "$f" .conf)"; done
    echo "apply.sh: no profile $profile_file (profiles:$known)" >&2
    exit 2
fi
profile_name=$(basename "$profile_file" .conf)

# "a  b\tc" -> "a b c"
normalize() {
    printf '%s' "$1" | tr '\t' ' ' | tr -s ' ' | sed 's/^ //; s/ $//'
}

# Non-negative integer a >= b, for any length (file-max can be 2^63-1, beyond bash's
# arithmetic once compared against unsigned values).
num_ge() {
    a=$(printf '%s' "$1" | sed 's/^0*//'); b=$(printf '%s' "$2" | sed 's/^0*//')
    [ ${#a} -ne ${#b} ] && { [ ${#a} -gt ${#b} ]; return; }
    [ "$a" = "$b" ] || [[ "$a" > "$b" ]]
}
is_num() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }

# Target for a floor key: each number max(current, floor). Prints nothing if the values
# are not comparable number lists of the same length.
floor_target() {
    local cur=$1 want=$2 out="" c w
    read -r -a cs <<<"$cur"; read -r -a ws <<<"$want"
    [ ${#cs[@]} -eq ${#ws[@]} ] || return 1
    for i in "${!ws[@]}"; do
        c=${cs[$i]}; w=${ws[$i]}
        is_num "$c" && is_num "$w" || return 1
        if num_ge "$c" "$w"; then out="$out $c"; else out="$out $w"; fi
    done
    printf '%s' "${out# }"
}

n_ok=0 n_set=0 n_drift=0 n_absent=0 n_skip=0 n_failed=0
persist_lines=""
lineno=0

report() { printf '%-46s %-28s %s\n' "$1" "$2" "$3"; }

while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line=${line%%#*}
    line=$(normalize "$line")
    case "$line" in ''|';'*) continue ;; esac

    optional=0
    case "$line" in -*) optional=1; line=${line#-} ;; esac
    if [[ "$line" =~ ^([A-Za-z0-9_./-]+)\ *(\>=|=)\ *(.+)$ ]]; then
        key=${BASH_REMATCH[1]}; op=${BASH_REMATCH[2]}; want=$(normalize "${BASH_REMATCH[3]}")
    else
        echo "apply.sh: $profile_file:$lineno: cannot parse: $line" >&2
        exit 2
    fi
    path=$sysctl_root/$(printf '%s' "$key" | tr . /)
    prefix=""; [ "$optional" = 1 ] && prefix="-"
    opshow=""; [ "$op" = ">=" ] && opshow=">= "

    if [ ! -e "$path" ]; then
        if [ "$optional" = 1 ]; then
            report "$key" "absent -> ${opshow}$want" "skip (optional; its module or feature is not loaded)"
            n_skip=$((n_skip + 1))
        else
            report "$key" "absent -> ${opshow}$want" "ABSENT: this kernel lacks the key"
            echo "apply.sh: warning: $key does not exist in this kernel ($path); skipped" >&2
            n_absent=$((n_absent + 1))
        fi
        # Persisted with '-' so that a later kernel or module applies it and this one
        # does not fail at boot.
        persist_lines="$persist_lines-$key = $want"$'\n'
        continue
    fi

    if ! cur=$(cat "$path" 2>/dev/null); then
        report "$key" "unreadable -> $want" "FAILED: cannot read $path"
        n_failed=$((n_failed + 1))
        continue
    fi
    cur=$(normalize "$cur")
    if [ "$op" = ">=" ]; then
        if ! target=$(floor_target "$cur" "$want"); then
            echo "apply.sh: $profile_file:$lineno: $key: '$cur' vs '$want' are not comparable number lists" >&2
            exit 2
        fi
    else
        target=$want
    fi
    persist_lines="$persist_lines$prefix$key = $target"$'\n'

    if [ "$cur" = "$target" ]; then
        if [ "$op" = ">=" ] && [ "$cur" != "$want" ]; then
            report "$key" "$cur (>= $want)" "ok"
        else
            report "$key" "$cur" "ok"
        fi
        n_ok=$((n_ok + 1))
        continue
    fi
    if [ "$check" = 1 ]; then
        report "$key" "$cur -> $target" "DRIFT"
        n_drift=$((n_drift + 1))
        continue
    fi
    if ! err=$( { printf '%s\n' "$target" > "$path"; } 2>&1 ); then
        report "$key" "$cur -> $target" "FAILED: ${err##*: }"
        n_failed=$((n_failed + 1))
        continue
    fi
    now=$(normalize "$(cat "$path")")
    if [ "$now" != "$target" ]; then
        # The kernel accepted the write but clamped or ignored it.
        report "$key" "$cur -> $target" "FAILED: the kernel kept $now"
        n_failed=$((n_failed + 1))
        continue
    fi
    report "$key" "$cur -> $target" "set"
    n_set=$((n_set + 1))
done < "$profile_file"

if [ "$persist" = 1 ]; then
    mkdir -p "$persist_dir"
    out=$persist_dir/60-corelb-$profile_name.conf
    tmp=$out.tmp.$$
    {
        echo "# Written by corelb tuning/apply.sh --persist from profile $profile_name."
        echo "# The reasons for every value are in that profile; edit it and re-run apply.sh."
        echo "# '-' marks keys whose absence is not an error for systemd-sysctl (boot); procps"
        echo "# 'sysctl -p' prints an error for them but still applies the other lines."
        printf '%s' "$persist_lines"
    } > "$tmp"
    mv -f "$tmp" "$out"
    echo "persisted: $out"
fi

if [ "$check" = 1 ]; then
    echo "summary: $n_ok ok, $n_drift drift, $n_absent absent, $n_skip skipped (optional)"
    [ $((n_drift + n_absent)) -eq 0 ]
else
    echo "summary: $n_ok ok, $n_set set, $n_failed failed, $n_absent absent, $n_skip skipped (optional)"
    [ $((n_failed + n_absent)) -eq 0 ]
fi
