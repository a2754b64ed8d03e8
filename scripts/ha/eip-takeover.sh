#!/bin/bash
# EC2 takeover for keepalived's notify_master: move an address onto this instance through
# the EC2 API (the VPC ignores gratuitous ARP, so moving the VIP on the wire is not enough).
#
#   eip-takeover.sh [--dry-run] --allocation-id eipalloc-... --private-ip IP
#                   [--eni eni-...] [--interface DEV] [--region REGION]
#                   [--mode eip|private-ip] [--retries N] [--aws CMD] [--imds URL]
#
# --mode eip (default; seed 001): associate the Elastic IP with PRIVATE-IP on this
#   instance's ENI: the own primary private IP for the node's own EIP, the reserved
#   secondary private IP for the peer's EIP. --allow-reassociation takes it from the peer.
# --mode private-ip: assign PRIVATE-IP (the VIP) to this instance's ENI as a secondary
#   private IP (--allow-reassignment takes it from the peer); keepalived's
#   virtual_ipaddress adds it to the interface. With --allocation-id, the Elastic IP is
#   then associated with it here too (a public VIP).
# ENI and region default to this instance's, read from the instance metadata service
# (IMDSv2) for --interface (default eth0's MAC, or the primary ENI).
# --dry-run prints the AWS CLI calls and makes none (metadata is still read if needed).
# Each call is retried with a growing pause (API throttling); exit 1 if all attempts fail.
# The instance profile needs ec2:AssociateAddress / ec2:AssignPrivateIpAddresses and
# ec2:DescribeAddresses.
set -eu

dry_run=0
alloc="" private_ip="" eni="" dev="" region=""
mode=eip
retries=4
aws=aws
imds=http://169.254.169.254

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
log() {
    echo "eip-takeover: $*" >&2
    # keepalived discards a notify script's output: keep a trace in the journal too.
    if command -v logger >/dev/null 2>&1; then logger -t corelb-eip-takeover -- "$*" || true; fi
}
die() { log "$*"; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1; shift; continue ;;
        -h|--help) usage ;;
    esac
    [ $# -ge 2 ] || die "$1 needs a value"
    case "$1" in
        --allocation-id) alloc=$2 ;;
        --private-ip) private_ip=$2 ;;
        --eni) eni=$2 ;;
        --interface) dev=$2 ;;
        --region) region=$2 ;;
        --mode) mode=$2 ;;
        --retries) retries=$2 ;;
        --aws) aws=$2 ;;
        --imds) imds=$2 ;;
        *) die "unknown option $1" ;;
    esac
    shift 2
done

case "$mode" in
    eip) [ -n "$alloc" ] || die "--allocation-id is required with --mode eip" ;;
    private-ip) ;;
    *) die "--mode is eip or private-ip" ;;
esac
[ -n "$private_ip" ] || die "--private-ip is required"
[[ "$private_ip" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "--private-ip: IPv4 address expected, got '$private_ip'"
if ! [[ "$retries" =~ ^[1-9][0-9]*$ ]]; then die "--retries: positive integer"; fi

# IMDSv2: one session token (fetched here, not inside a $(...) subshell where it would
# be lost), then the token on every read.
imds_token=""
imds_login() {
    [ -z "$imds_token" ] || return 0
    imds_token=$(curl -fsS --max-time 2 -X PUT "$imds/latest/api/token" \
        -H "X-aws-ec2-metadata-token-ttl-seconds: 300") || die "instance metadata unreachable at $imds (pass --eni and --region)"
}
imds_get() {
    curl -fsS --max-time 2 -H "X-aws-ec2-metadata-token: $imds_token" "$imds/latest/meta-data/$1" ||
        die "instance metadata: cannot read $1"
}

if [ -z "$region" ] || [ -z "$eni" ]; then imds_login; fi
if [ -z "$region" ]; then
    region=$(imds_get placement/region)
fi
if [ -z "$eni" ]; then
    if [ -n "$dev" ]; then
        mac=$(cat "/sys/class/net/$dev/address") || die "no interface $dev"
    else
        mac=$(imds_get mac)
    fi
    eni=$(imds_get "network/interfaces/macs/$mac/interface-id")
fi
[[ "$eni" =~ ^eni-[0-9a-f]+$ ]] || die "bad ENI id '$eni'"
[[ "$region" =~ ^[a-z0-9-]+$ ]] || die "bad region '$region'"
[ -z "$alloc" ] || [[ "$alloc" =~ ^eipalloc-[0-9a-f]+$ ]] || die "bad allocation id '$alloc'"

calls=()
if [ "$mode" = private-ip ]; then
    calls+=("ec2 assign-private-ip-addresses --region $region --network-interface-id $eni --private-ip-addresses $private_ip --allow-reassignment")
fi
if [ -n "$alloc" ]; then
    calls+=("ec2 associate-address --region $region --allocation-id $alloc --network-interface-id $eni --private-ip-address $private_ip --allow-reassociation")
fi
# Fail fast on a dead endpoint instead of keepalived's notify hanging for minutes.
opts="--cli-connect-timeout 2 --cli-read-timeout 5 --output text"

if [ "$dry_run" = 1 ]; then
    for c in "${calls[@]}"; do echo "$aws $c $opts"; done
    exit 0
fi

# Every word is a validated id, region or address: splitting on spaces is safe.
run_call() {
    local attempt=1 pause=1 out
    while :; do
        # shellcheck disable=SC2086
        if out=$("$aws" $1 $opts 2>&1); then
            log "${1%% --region*} $private_ip -> $eni ($region): done ${out//$'\n'/ }"
            return 0
        fi
        log "attempt $attempt/$retries failed: ${out//$'\n'/ }"
        [ "$attempt" -lt "$retries" ] || return 1
        sleep "$pause"
        attempt=$((attempt + 1)) pause=$((pause * 2))
    done
}
for c in "${calls[@]}"; do
    if ! run_call "$c"; then
        log "giving up: $private_ip is NOT on this instance; traffic still goes to the peer"
        exit 1
    fi
done
