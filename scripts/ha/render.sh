#!/bin/bash
# Render a keepalived.conf for one node of a corelb pair from the templates beside this
# script.
#
#   scripts/ha/render.sh --node 1|2 --interface IF --self IP --peer IP --vip CIDR
#       --auth-pass PASS [--mode active-passive|active-active] [--vip2 CIDR]
#       [--vrid N] [--check "ARGS"] [--check-interval S] [--check-fall N]
#       [--check-rise N] [--libexec DIR] [--script-user USER] [--router-id ID]
#       [--notify-master "CMD"] [--notify-master-2 "CMD"] [-o FILE]
#
# Node 1 has the higher priority for VIP 1, node 2 for VIP 2 (active-active). --check is
# passed to check-corelb.sh (default "--tcp 127.0.0.1:80"); --notify-master is run as root
# when the node takes the VIP over (on EC2: eip-takeover.sh, see docs/ec2.md). --vrid is
# the VRRP router id of VIP 1 (VIP 2 uses the next one); both nodes must use the same.
# A template line holding a value left empty (e.g. no --notify-master) is left out.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
mode=active-passive
node="" interface="" self="" peer="" vip="" vip2="" auth=""
vrid=51
check="--tcp 127.0.0.1:80"
interval=1 fall=2 rise=2
libexec=/usr/local/lib/corelb
script_user=nobody
router_id=""
notify="" notify2=""
out=-

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "render.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { case "$1" in -h|--help) usage ;; *) die "$1 needs a value" ;; esac; }
    case "$1" in
        --mode) mode=$2 ;;
        --node) node=$2 ;;
        --interface) interface=$2 ;;
        --self) self=$2 ;;
        --peer) peer=$2 ;;
        --vip) vip=$2 ;;
        --vip2) vip2=$2 ;;
        --vrid) vrid=$2 ;;
        --auth-pass) auth=$2 ;;
        --check) check=$2 ;;
        --check-interval) interval=$2 ;;
        --check-fall) fall=$2 ;;
        --check-rise) rise=$2 ;;
        --libexec) libexec=$2 ;;
        --script-user) script_user=$2 ;;
        --router-id) router_id=$2 ;;
        --notify-master) notify=$2 ;;
        --notify-master-2) notify2=$2 ;;
        -o) out=$2 ;;
        *) die "unknown option $1" ;;
    esac
    shift 2
done

case "$mode" in active-passive|active-active) ;; *) die "--mode is active-passive or active-active" ;; esac
case "$node" in 1|2) ;; *) die "--node is 1 or 2" ;; esac
for v in interface self peer vip auth; do
    [ -n "${!v}" ] || die "--${v/auth/auth-pass} is required"
done
[ "$mode" = active-active ] && [ -z "$vip2" ] && die "active-active needs --vip2"
[ "$mode" = active-passive ] && [ -n "$vip2" ] && die "--vip2 is for --mode active-active"
# VRRP PASS authentication uses 8 bytes; keepalived silently truncates longer ones.
[ ${#auth} -le 8 ] || die "--auth-pass: at most 8 characters (VRRP PASS authentication)"
for n in vrid interval fall rise; do
    if [[ "${!n}" =~ ^[0-9]+$ ]] && [ "${!n}" -ge 1 ]; then continue; fi
    die "--${n/interval/check-interval} must be a positive integer"
done
[ "$vrid" -le 254 ] || die "--vrid: 1..254 (VIP 2 uses vrid+1)"
case "$check" in *'"'*) die "--check must not contain double quotes" ;; esac
case "$notify$notify2" in *'"'*) die "--notify-master must not contain double quotes" ;; esac

# Near the top of the range: when the master resigns (priority-0 advert), the backup
# waits (256 - priority) / 256 advert intervals before taking over: 0.06 s at 240.
if [ "$node" = 1 ]; then p1=250 p2=240; else p1=240 p2=250; fi
declare -A val=(
    [NODE]=$node
    [ROUTER_ID]=${router_id:-corelb-$node}
    [SCRIPT_USER]=$script_user
    [LIBEXEC]=$libexec
    [CHECK_ARGS]=$check
    [CHECK_INTERVAL]=$interval
    [CHECK_FALL]=$fall
    [CHECK_RISE]=$rise
    [INTERFACE]=$interface
    [VRID]=$vrid
    [VRID_2]=$((vrid + 1))
    [PRIORITY]=$p1
    [PRIORITY_1]=$p1
    [PRIORITY_2]=$p2
    [SELF_IP]=$self
    [PEER_IP]=$peer
    [AUTH_PASS]=$auth
    [VIP]=$vip
    [VIP_2]=$vip2
    [NOTIFY_MASTER]=$notify
    [NOTIFY_MASTER_2]=$notify2
)

template=$here/keepalived-$mode.conf.in
rendered=""
while IFS= read -r line || [ -n "$line" ]; do
    drop=0
    for k in "${!val[@]}"; do
        case "$line" in
            *"@$k@"*)
                [ -z "${val[$k]}" ] && drop=1
                line=${line//"@$k@"/"${val[$k]}"}
                ;;
        esac
    done
    [ "$drop" = 1 ] && continue
    if [[ "$line" =~ @[A-Z0-9_]+@ ]]; then
        die "$template: no value for ${BASH_REMATCH[0]}"
    fi
    rendered+=$line$'\n'
done < "$template"

if [ "$out" = - ]; then
    printf '%s' "$rendered"
else
    printf '%s' "$rendered" > "$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
fi
