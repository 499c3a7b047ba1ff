#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh - run a script inside the bublk test VM (a qemu TCG guest with a
# Debian kernel and ublk_drv loaded: 6.12, or with BUBLK_VM_KSET=newest the
# newest 7.x of Debian's trixie-backports; see build-kernel.sh).
#
# Usage: selftests/vm/run.sh SCRIPT [ARGS...]
#
# SCRIPT is a path relative to the checkout (or to the current directory),
# or an absolute path to something inside the checkout or on the host's root
# filesystem (e.g. /bin/false).  It must be executable.
#
# In the guest, the host's / is mounted read-only and the checkout read-write
# at its host path; SCRIPT runs as root chrooted into that tree with cwd =
# the checkout, PATH=/usr/local/sbin:...:/bin, BUBLK_IN_VM=1, and every
# BUBLK_* variable exported on the host (except BUBLK_VM_*).  Guest modules
# beyond ublk_drv (e.g. null_blk) load with `modprobe -d "$BUBLK_VM_MODROOT"`.
#
# The guest console is streamed to stdout and saved to
# $BUBLK_BUILD/vm/console-<script basename>-<kernel set>.log.
#
# Exit status: the guest script's status, or
#    97  the VM's /init failed (e.g. ublk_drv did not load), see the log
#    98  kernel panic / Oops / BUG on the guest console
#    99  guest ended without reporting a status
#   124  timeout
#
# Environment:
#   BUBLK_VM_KSET      the kernel to boot: 6.12 (default) or newest
#   BUBLK_VM_TIMEOUT   seconds before the guest is killed (default 3600: a hang detector only;
#                      the 7.3 suite takes ~520 s alone, over 1800 s beside three other guests)
#   BUBLK_VM_SMP       guest CPUs (default 2)
#   BUBLK_VM_MEM       guest memory (default 2G)
#   BUBLK_VM_ASLR=1    keep address-space randomization in the guest (off by default: see norandmaps below)
#   BUBLK_BUILD, BUBLK_VM_UBLK_KO, ...   see build-kernel.sh

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
export BUBLK_BUILD=${BUBLK_BUILD:-$REPO/build}
OUT=$BUBLK_BUILD/vm
TIMEOUT=${BUBLK_VM_TIMEOUT:-3600}

die() { echo "vm: error: $*" >&2; exit 2; }

[ $# -ge 1 ] || { sed -n '4,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2; }
case "$1" in -h | --help) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
[ "${BUBLK_IN_VM:-}" != 1 ] || die "already inside the VM"

# --- locate the script -----------------------------------------------------
script=$1
shift
case "$script" in
/*) ;;
*)
	if [ -e "$REPO/$script" ]; then
		script=$REPO/$script
	elif [ -e "$PWD/$script" ]; then
		script=$PWD/$script
	else
		die "$script: not found (relative paths are taken from $REPO)"
	fi
	;;
esac
[ -f "$script" ] || die "$script: no such file"
[ -x "$script" ] || die "$script: not executable"
# The guest replaces these trees with its own filesystems; a script living
# there (outside the checkout) would not be visible.
case "$script" in
"$REPO"/*) ;;
/tmp/* | /run/* | /proc/* | /sys/* | /dev/*)
	die "$script: not visible in the guest (move it into $REPO)" ;;
esac

# --- kernel + initramfs ------------------------------------------------------
env_out=$("$HERE/build-kernel.sh" --env) || die "build-kernel.sh failed"
eval "$env_out"

# --- guest command line ----------------------------------------------------
# Quote every word for the guest's /bin/sh ('...' with ' -> '\'') and pass
# the whole command base64-encoded, so arbitrary arguments survive the
# kernel command line.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
cmd=""
while IFS= read -r var; do
	case "$var" in BUBLK_VM_* | BUBLK_IN_VM) continue ;; esac
	cmd+="export $var=$(shq "${!var}"); "
done < <(compgen -e | grep '^BUBLK_' || true)
cmd+="cd $(shq "$REPO") && exec $(shq "$script")"
for a in "$@"; do
	cmd+=" $(shq "$a")"
done
b64() { printf '%s' "$1" | base64 -w0; }
# tsc=reliable: under a loaded host the clocksource watchdog calls TCG's
# TSC unstable and switches clocksource, which live-patches kernel text;
# multi-threaded TCG can trip over that patching (an int3 Oops mid-run,
# seen on 7.3 in make test). No watchdog, no patching.
append="console=ttyS0 panic=-1 quiet oops=panic tsc=reliable"
# norandmaps: no address-space randomization in the guest. qemu 7.2's TCG
# keeps the code it translated by virtual address, so with ASLR every new
# process (each bublk, dd, fio, python3 a test starts) maps its libraries
# somewhere new and has all of them translated again; without it they
# start about twice as fast (bublk list 0.18 -> 0.09 s, fio 0.55 -> 0.25 s
# in the 7.3 guest), and the device suite is mostly process starts.
# BUBLK_VM_ASLR=1 keeps the randomization.
[ "${BUBLK_VM_ASLR:-0}" = 1 ] || append+=" norandmaps"
# The guest's TSC is the host's (TCG): give the guest its rate instead of
# letting it calibrate against emulated timers, which a loaded host skews
# (the guest's clock then runs many times too fast: every bound in the
# tests goes wrong with it). tsc_khz.c says how it is measured.
if [ "$(uname -m)" = x86_64 ]; then
	tsc_bin=$OUT/tsc_khz
	if [ ! -x "$tsc_bin" ] || [ "$HERE/tsc_khz.c" -nt "$tsc_bin" ]; then
		mkdir -p "$OUT"
		${CC:-cc} -O2 -o "$tsc_bin.tmp" "$HERE/tsc_khz.c" && mv "$tsc_bin.tmp" "$tsc_bin"
	fi
	tsc_khz=$("$tsc_bin" 2>/dev/null) && [ "${tsc_khz:-0}" -gt 100000 ] &&
		append+=" tsc_early_khz=$tsc_khz"
fi
append+=" bublk_work=$(b64 "$REPO") bublk_cmd=$(b64 "$cmd")"
# x86 COMMAND_LINE_SIZE is 2048.
[ ${#append} -lt 2000 ] || die "arguments too long for the kernel command line"

# --- boot ------------------------------------------------------------------
mkdir -p "$OUT"
name=$(basename "$script")
log=$OUT/console-${name%.sh}-${BUBLK_VM_KSET:-6.12}.log
tmp=$(mktemp -d)
# shellcheck disable=SC2317 # called from traps
qemu_pid() { cat "$tmp/qemu.pid" 2>/dev/null; }
# shellcheck disable=SC2317
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

# qemu -virtfs options: a literal comma in a path is written ",,".
# shellcheck disable=SC2054 # the commas belong to qemu options
qemu=(qemu-system-x86_64
	-machine q35 -accel tcg,thread=multi -cpu max
	-smp "${BUBLK_VM_SMP:-2}" -m "${BUBLK_VM_MEM:-2G}"
	-nographic -no-reboot -nic none
	-pidfile "$tmp/qemu.pid"
	-kernel "$BUBLK_VM_KERNEL" -initrd "$BUBLK_VM_INITRD"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=${REPO//,/,,},mount_tag=work,security_model=none,multidevs=remap"
	-append "$append")

echo "vm: running $script${*:+ $*} (kernel $BUBLK_VM_KVER, timeout ${TIMEOUT}s)" >&2
oops_re='\[ *[0-9]+\.[0-9]+\] (Kernel panic - not syncing|BUG: |Oops: |general protection fault)|Kernel panic - not syncing'
# shellcheck disable=SC2317
on_signal() {
	echo "vm: interrupted, stopping the guest" >&2
	pid=$(qemu_pid) && [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	wait "$pipeline"
	exit 130
}
# A guest that crashes before /init ran the script is booted again (twice
# at most): multi-threaded TCG occasionally trips over the kernel patching
# its own code at boot (an int3 Oops in early init). A crash once the
# script runs is always reported.
for attempt in 1 2 3; do
	start=$(date +%s.%N)
	# Console: drop \r and terminal control sequences (SeaBIOS clears the
	# screen), stream to stdout and into the log.  qemu's own status goes to
	# rc; the pipeline runs in the background so that signals reach our trap.
	{
		timeout -k 10 "$TIMEOUT" "${qemu[@]}" </dev/null 2>&1
		echo $? >"$tmp/rc"
	} | sed -u -e 's/\r//g' -e 's/\(.\)\x1bc/\1\n/g' \
		-e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[c()][0-9A-B]\{0,1\}//g' |
		tee "$log" &
	pipeline=$!
	trap on_signal INT TERM HUP
	wait "$pipeline"
	trap - INT TERM HUP
	grep -qE "$oops_re" "$log" && ! grep -q '^vm-init: up ' "$log" && [ $attempt -lt 3 ] || break
	cp "$log" "${log%.log}-boot$attempt.log"
	echo "vm: the guest kernel crashed while booting (TCG); booting again (log: ${log%.log}-boot$attempt.log)" >&2
done
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
qrc=$(cat "$tmp/rc" 2>/dev/null || echo 255)

# --- verdict ----------------------------------------------------------------
# Kernel messages carry a printk timestamp, which keeps a script that merely
# prints "BUG:" from being mistaken for a kernel bug.
oops=$(grep -E "$oops_re" "$log" | head -n5)
status=$(sed -n 's/^BUBLK_VM_EXIT=\([0-9]\{1,3\}\)$/\1/p' "$log" | tail -n1)

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	[ -z "$oops" ] || printf 'vm: kernel problem on the console:\n%s\n' "$oops" >&2
	echo "vm: guest timed out after $TIMEOUT s (log: $log)" >&2
	exit 124
fi
if [ -n "$oops" ]; then
	printf '%s\n' "$oops" >&2
	echo "vm: guest kernel panic (log: $log)" >&2
	exit 98
fi
if [ -z "$status" ]; then
	echo "vm: guest ended without reporting a status (no BUBLK_VM_EXIT marker, qemu status $qrc; log: $log)" >&2
	exit 99
fi
if grep -qE '\[ *[0-9]+\.[0-9]+\] WARNING: ' "$log"; then
	echo "vm: note: kernel WARNING on the guest console (log: $log)" >&2
fi
[ "$status" = 97 ] && echo "vm: VM setup failed inside the guest (log: $log)" >&2
echo "vm: $name exited with status $status after ${secs}s (log: $log)" >&2
exit "$status"
