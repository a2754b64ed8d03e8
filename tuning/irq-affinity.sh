#!/bin/bash
# Pin a NIC's queue interrupts to the CPUs corelb's shards run on, and set RPS/XPS to match.
#
#   tuning/irq-affinity.sh [--dry-run] [--proc-root DIR] [--sysfs-root DIR]
#                          [--irqbalance-conf FILE] --cpus LIST DEV
#
# LIST is the CPU list given to corelb (--cpus, or the CPUs of cpu-map), e.g. 0-7 or
# 0,2,4,6. Queue i's interrupt goes to the i-th CPU of LIST (wrapping around when the NIC
# has more queues than LIST has CPUs). When there are fewer queues than CPUs, the CPUs are
# dealt out to the queues (CPU j belongs to queue j mod queues) and RPS spreads each
# queue's packets over its CPUs; XPS sends what a CPU transmits on the queue it belongs to.
#
# Writes PROC/irq/N/smp_affinity_list, SYSFS/class/net/DEV/queues/rx-i/rps_cpus and
# tx-i/xps_cpus (hex masks). --dry-run prints every write without doing it.
# --irqbalance-conf FILE (e.g. /etc/default/irqbalance) sets IRQBALANCE_ARGS there so that
# irqbalance leaves these IRQs alone; without it, the script says what to do.
# Exit status: 0 done, 1 some write failed, 2 usage error or no queue interrupt found.
set -eu

dry_run=0
proc=/proc
sysfs=/sys
cpus_arg=""
dev=""
irqbalance_conf=""

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
die() { echo "irq-affinity.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --proc-root) [ $# -ge 2 ] || usage; proc=$2; shift ;;
        --proc-root=*) proc=${1#*=} ;;
        --sysfs-root) [ $# -ge 2 ] || usage; sysfs=$2; shift ;;
        --sysfs-root=*) sysfs=${1#*=} ;;
        --cpus) [ $# -ge 2 ] || usage; cpus_arg=$2; shift ;;
        --cpus=*) cpus_arg=${1#*=} ;;
        --irqbalance-conf) [ $# -ge 2 ] || usage; irqbalance_conf=$2; shift ;;
        --irqbalance-conf=*) irqbalance_conf=${1#*=} ;;
        -h|--help) usage ;;
        -*) echo "irq-affinity.sh: unknown option: $1" >&2; usage ;;
        *) [ -z "$dev" ] || die "one device only (got $dev and $1)"; dev=$1 ;;
    esac
    shift
done
[ -n "$dev" ] || { echo "irq-affinity.sh: missing DEV" >&2; usage; }
[ -n "$cpus_arg" ] || { echo "irq-affinity.sh: missing --cpus LIST" >&2; usage; }
netdir=$sysfs/class/net/$dev
[ -d "$netdir" ] || die "no network device $dev ($netdir does not exist)"

# "0-3,8,10-11" -> array of CPU numbers, in the order given (corelb's shard order).
cpus=()
parse_cpulist() {
    local part a b
    local IFS=,
    for part in $1; do
        if [[ "$part" =~ ^([0-9]+)-([0-9]+)$ ]]; then
            a=$((10#${BASH_REMATCH[1]})); b=$((10#${BASH_REMATCH[2]}))
            [ "$a" -le "$b" ] || die "bad CPU range '$part' in '$1'"
            while [ "$a" -le "$b" ]; do cpus+=("$a"); a=$((a + 1)); done
        elif [[ "$part" =~ ^[0-9]+$ ]]; then
            cpus+=("$((10#$part))")
        else
            die "bad CPU list '$1' (expected e.g. 0-7 or 0,2,4,6)"
        fi
    done
}
parse_cpulist "$cpus_arg"
ncpu=${#cpus[@]}
[ "$ncpu" -gt 0 ] || die "empty CPU list"
declare -A seen=()
for c in "${cpus[@]}"; do
    [ -z "${seen[$c]:-}" ] || die "CPU $c appears twice in '$cpus_arg'"
    seen[$c]=1
done

# Refuse CPUs the host does not have (a list copied from a bigger instance type).
if [ -r "$sysfs/devices/system/cpu/online" ]; then
    online_list=$(cat "$sysfs/devices/system/cpu/online")
    saved=("${cpus[@]}"); cpus=()
    parse_cpulist "$online_list"
    declare -A online=()
    for c in "${cpus[@]}"; do online[$c]=1; done
    cpus=("${saved[@]}")
    for c in "${cpus[@]}"; do
        [ -n "${online[$c]:-}" ] || die "CPU $c is not online on this host (online: $online_list)"
    done
fi

# --- find the queue interrupts -------------------------------------------------------
# irq_of[queue index] = "IRQ [IRQ...]" (a combined Tx-Rx IRQ, or separate rx and tx IRQs)
declare -A irq_of=()
declare -A name_of=()
[ -r "$proc/interrupts" ] || die "cannot read $proc/interrupts"

# Names drivers give queue vectors: ENA "eth0-Tx-Rx-3", Intel/Broadcom "eth0-TxRx-3",
# igb and others "eth0-rx-3" / "eth0-tx-3".
# shellcheck disable=SC2016 # the $ in the sed expression is a literal regex character
dev_re=$(printf '%s' "$dev" | sed 's/[.[\*^$()+?{|]/\\&/g')
queue_re="^${dev_re}-([Tt][Xx]-?[Rr][Xx]|[Rr][Xx]|[Tt][Xx])-([0-9]+)$"
while read -r first rest; do
    irq=${first%:}
    [[ "$irq" =~ ^[0-9]+$ ]] || continue
    name=${rest##* }
    if [[ "$name" =~ $queue_re ]]; then
        q=$((10#${BASH_REMATCH[2]}))
        irq_of[$q]="${irq_of[$q]:+${irq_of[$q]} }$irq"
        name_of[$irq]=$name
    fi
done < "$proc/interrupts"

# Otherwise the device's MSI vectors (drivers that name them after the PCI address, e.g.
# mlx5_comp3@pci:...): all of them but the management/admin/async ones, in vector order.
if [ ${#irq_of[@]} -eq 0 ] && [ -d "$netdir/device/msi_irqs" ]; then
    declare -A pname=()
    while read -r first rest; do
        irq=${first%:}
        [[ "$irq" =~ ^[0-9]+$ ]] && pname[$irq]=${rest##* }
    done < "$proc/interrupts"
    q=0
    for irq in $(for f in "$netdir"/device/msi_irqs/*; do echo "${f##*/}"; done | sort -n); do
        name=${pname[$irq]:-}
        case "$name" in
            ''|*mgmnt*|*mgmt*|*async*|*ctrl*|*admin*|*config*|*-aq*|*misc*|*lsc*) continue ;;
        esac
        irq_of[$q]=$irq
        name_of[$irq]=$name
        q=$((q + 1))
    done
fi
[ ${#irq_of[@]} -gt 0 ] || die "no queue interrupts for $dev in $proc/interrupts (looked for $dev-Tx-Rx-N, $dev-TxRx-N, $dev-rx-N, $dev-tx-N, and $netdir/device/msi_irqs)"

nq_irq=$(printf '%s\n' "${!irq_of[@]}" | sort -n | tail -1); nq_irq=$((nq_irq + 1))

# --- masks -------------------------------------------------------------------------------
# Hex cpumask in the kernel's format: 32-bit words, most significant first, comma-separated.
mask_of() {
    local -a words=()
    local c w max=0 out="" i
    for c in "$@"; do w=$((c / 32)); [ "$w" -gt "$max" ] && max=$w; done
    for ((i = 0; i <= max; i++)); do words[i]=0; done
    for c in "$@"; do w=$((c / 32)); words[w]=$((words[w] | (1 << (c % 32)))); done
    out=$(printf '%x' "${words[max]}")
    for ((i = max - 1; i >= 0; i--)); do out="$out,$(printf '%08x' "${words[i]}")"; done
    printf '%s' "$out"
}

# CPUs that serve queue q of a direction with nq queues: the CPU its interrupt is on, plus,
# when CPUs outnumber queues, every CPU j of the list with j mod nq == q.
group_of() {
    local q=$1 nq=$2 j
    local -a g=("${cpus[$((q % ncpu))]}")
    for ((j = 0; j < ncpu; j++)); do
        if [ $((j % nq)) -eq "$q" ] && [ "${cpus[j]}" != "${g[0]}" ]; then g+=("${cpus[j]}"); fi
    done
    printf '%s ' "${g[@]}"
}

failed=0
write() {
    local path=$1 value=$2 err
    if [ "$dry_run" = 1 ]; then
        echo "would write $path = $value"
        return
    fi
    if err=$( { printf '%s\n' "$value" > "$path"; } 2>&1 ); then
        echo "wrote $path = $value"
    else
        echo "FAILED $path = $value: ${err##*: }" >&2
        failed=$((failed + 1))
    fi
}

echo "$dev: ${#irq_of[@]} queue interrupt vector(s), CPUs ${cpus[*]} ($ncpu)"
[ "$nq_irq" -gt "$ncpu" ] && echo "note: $nq_irq queues on $ncpu CPUs: queues wrap around, several per CPU"

all_irqs=()
for q in $(printf '%s\n' "${!irq_of[@]}" | sort -n); do
    cpu=${cpus[$((q % ncpu))]}
    for irq in ${irq_of[$q]}; do
        echo "queue $q: irq $irq (${name_of[$irq]}) -> cpu $cpu"
        [ -d "$proc/irq/$irq" ] || { echo "FAILED: $proc/irq/$irq does not exist" >&2; failed=$((failed + 1)); continue; }
        write "$proc/irq/$irq/smp_affinity_list" "$cpu"
        all_irqs+=("$irq")
    done
done

# RPS and XPS per software queue (the counts can differ from the interrupt count).
for dir in rx tx; do
    nq=0
    while [ -d "$netdir/queues/$dir-$nq" ]; do nq=$((nq + 1)); done
    if [ "$nq" -eq 0 ]; then
        echo "note: $netdir/queues has no $dir-N queues; $( [ $dir = rx ] && echo RPS || echo XPS ) not set"
        continue
    fi
    for ((q = 0; q < nq; q++)); do
        read -r -a group <<<"$(group_of "$q" "$nq")"
        if [ "$dir" = rx ]; then
            write "$netdir/queues/rx-$q/rps_cpus" "$(mask_of "${group[@]}")"
        elif [ -e "$netdir/queues/tx-$q/xps_cpus" ]; then
            write "$netdir/queues/tx-$q/xps_cpus" "$(mask_of "${group[@]}")"
        else
            echo "note: $netdir/queues/tx-$q/xps_cpus absent (kernel without XPS); skipped"
        fi
    done
done

# --- irqbalance ------------------------------------------------------------------------
# irqbalance rewrites smp_affinity every 10 s unless told to leave these IRQs alone.
banargs=""
for irq in "${all_irqs[@]}"; do banargs="$banargs --banirq=$irq"; done
banargs=${banargs# }
irqbalance_running=0
for comm in "$proc"/[0-9]*/comm; do
    [ -r "$comm" ] && [ "$(cat "$comm" 2>/dev/null)" = irqbalance ] && irqbalance_running=1 && break
done
if [ -n "$irqbalance_conf" ]; then
    # Keep the file's other settings and IRQBALANCE_ARGS options; replace the --banirq ones.
    old_args=""
    if [ -r "$irqbalance_conf" ]; then
        old_args=$(sed -n 's/^IRQBALANCE_ARGS=["'\'']\{0,1\}\([^"'\'']*\)["'\'']\{0,1\}$/\1/p' "$irqbalance_conf" | tail -1)
    fi
    kept=""
    for a in $old_args; do case "$a" in --banirq=*) ;; *) kept="$kept $a" ;; esac; done
    line="IRQBALANCE_ARGS=\"${kept# }${kept:+ }$banargs\""
    if [ "$dry_run" = 1 ]; then
        echo "would write $irqbalance_conf: $line"
    else
        tmp=$irqbalance_conf.tmp.$$
        { [ -r "$irqbalance_conf" ] && grep -v '^IRQBALANCE_ARGS=' "$irqbalance_conf"; echo "$line"; } > "$tmp" || true
        mv -f "$tmp" "$irqbalance_conf"
        echo "wrote $irqbalance_conf: $line"
    fi
    [ "$irqbalance_running" = 1 ] && echo "irqbalance is running: restart it (systemctl restart irqbalance) so that it reads $irqbalance_conf"
elif [ "$irqbalance_running" = 1 ]; then
    echo "WARNING: irqbalance is running and will move these IRQs within seconds. Either stop it"
    echo "  (systemctl disable --now irqbalance), or ban them: add to /etc/default/irqbalance"
    echo "  (/etc/sysconfig/irqbalance on RHEL/Amazon Linux) and restart irqbalance:"
    echo "  IRQBALANCE_ARGS=\"$banargs\""
    echo "  (re-run this script with --irqbalance-conf FILE to write it)"
else
    echo "irqbalance: not running"
fi

if [ "$failed" -gt 0 ]; then
    echo "irq-affinity.sh: $failed write(s) failed" >&2
    exit 1
fi
