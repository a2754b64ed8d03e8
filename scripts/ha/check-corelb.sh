#!/bin/bash
# keepalived vrrp_script check: is corelb on this host serving?
#
#   check-corelb.sh [--tcp HOST:PORT] [--http HOST:PORT/PATH] [--timeout SECONDS]
#                   [--maintenance-file FILE]
#
# --tcp   connect to corelb's listener (the default, 127.0.0.1:80). Run from keepalived,
#         the check must reach this host's corelb: use an address bound on this host
#         (127.0.0.1 or the host's own IP), never the VIP, which leads to the peer while
#         this host is the backup.
# --http  GET PATH (corelb's monitor-uri, once mode http exists) and require a 2xx/3xx.
# Several checks may be given; all must pass. The maintenance file (default
# /run/corelb/maintenance, created by drain.sh) fails the check at once, so that a planned
# stop hands the VIP over before corelb closes its listeners.
# Exit status 0: healthy; 1: not.
set -eu

timeout_s=1
maintenance=/run/corelb/maintenance
checks=()

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --tcp|--http) [ $# -ge 2 ] || usage; checks+=("$1" "$2"); shift ;;
        --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift ;;
        --maintenance-file) [ $# -ge 2 ] || usage; maintenance=$2; shift ;;
        -h|--help) usage ;;
        *) echo "check-corelb.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
[ ${#checks[@]} -gt 0 ] || checks=(--tcp 127.0.0.1:80)

if [ -e "$maintenance" ]; then
    echo "check-corelb.sh: $maintenance exists: draining" >&2
    exit 1
fi

# HOST:PORT or [V6]:PORT -> "HOST PORT"
split_hostport() {
    local hp=$1
    if [[ "$hp" =~ ^\[([0-9A-Fa-f:.]+)\]:([0-9]+)$ ]] || [[ "$hp" =~ ^([^:/]+):([0-9]+)$ ]]; then
        printf '%s %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
        echo "check-corelb.sh: bad address '$hp' (HOST:PORT or [V6]:PORT)" >&2
        exit 2
    fi
}

set -- "${checks[@]}"
while [ $# -gt 0 ]; do
    kind=$1 target=$2
    shift 2
    if [ "$kind" = --tcp ]; then
        read -r host port <<<"$(split_hostport "$target")"
        # bash's /dev/tcp: no nc/curl needed on the host. timeout bounds a SYN that gets
        # no answer at all.
        # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
        if ! timeout "$timeout_s" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; then
            echo "check-corelb.sh: tcp $target: no connection" >&2
            exit 1
        fi
    else
        hostport=${target%%/*}
        path=/${target#*/}
        [ "$hostport" != "$target" ] || path=/
        read -r host port <<<"$(split_hostport "$hostport")"
        # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
        status=$(timeout "$timeout_s" bash -c '
            exec 3<>"/dev/tcp/$0/$1" || exit 1
            printf "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: corelb-keepalived-check\r\n\r\n" "$2" "$0" >&3
            IFS= read -r line <&3 && printf "%s" "$line"' "$host" "$port" "$path" 2>/dev/null) || true
        status=${status%$'\r'}
        if ! [[ "$status" =~ ^HTTP/1\.[01]\ [23][0-9][0-9] ]]; then
            echo "check-corelb.sh: http $target: '${status:-no answer}'" >&2
            exit 1
        fi
    fi
done
exit 0
