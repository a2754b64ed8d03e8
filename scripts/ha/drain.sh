#!/bin/bash
# Planned stop of corelb on a keepalived node without failing requests: hand the VIPs to
# the peer first, then let corelb stop.
#
#   drain.sh [--vip IP]... [--timeout SECONDS] [--maintenance-file FILE]
#   drain.sh --undo [--maintenance-file FILE]
#
# Creates the maintenance file (default /run/corelb/maintenance) that makes
# check-corelb.sh fail, so keepalived gives the VIPs up (FAULT, priority-0 advert) while
# corelb still serves; then waits until none of the VIPs is on this host (at most
# --timeout, default 10 s). New connections meanwhile see at worst one SYN retransmit
# instead of a reset. Used as ExecStop= of corelb.service on keepalived nodes
# (scripts/ha/corelb-ha.conf); the maintenance file lives in corelb's RuntimeDirectory, so
# the next start clears it. --undo removes it by hand. Exit 1 if a VIP is still here.
set -eu

maintenance=/run/corelb/maintenance
timeout_s=10
undo=0
vips=()

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --undo) undo=1; shift; continue ;;
        -h|--help) usage ;;
    esac
    [ $# -ge 2 ] || usage
    case "$1" in
        --vip) vips+=("${2%/*}") ;;
        --timeout) timeout_s=$2 ;;
        --maintenance-file) maintenance=$2 ;;
        *) echo "drain.sh: unknown option $1" >&2; usage ;;
    esac
    shift 2
done

if [ "$undo" = 1 ]; then
    rm -f "$maintenance"
    echo "drain.sh: $maintenance removed; keepalived takes the VIPs back after its rise count"
    exit 0
fi

mkdir -p "$(dirname "$maintenance")"
date -u +%FT%TZ > "$maintenance"

held() {
    local v
    for v in "${vips[@]}"; do
        # "inet 10.77.0.100/24 ..." on any interface of this host
        if ip -o -4 addr show | grep -q " inet $v/"; then echo "$v"; return 0; fi
    done
    return 1
}

[ ${#vips[@]} -gt 0 ] || { echo "drain.sh: no --vip given: maintenance file set, not waiting"; exit 0; }
deadline=$(( $(date +%s) + timeout_s ))
while v=$(held); do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "drain.sh: $v still on this host after ${timeout_s}s (is keepalived running and tracking check-corelb.sh?)" >&2
        exit 1
    fi
    sleep 0.1
done
echo "drain.sh: VIPs ${vips[*]} are not on this host; corelb can stop"
