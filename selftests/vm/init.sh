#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: GPL-2.0
#
# /init of the bublk test VM (copied into the initramfs by build-kernel.sh).
#
# Loads ublk_drv and the 9p modules, mounts the host's / read-only over 9p
# (tag "hostroot") at /host, the checkout read-write (tag "work") at its
# host path inside /host, then chroots into /host and runs the requested
# script there with a clean environment.  The script's status is reported
# on the console as "BUBLK_VM_EXIT=<rc>" (run.sh looks for it) and the VM
# powers off.
#
# Parameters arrive on the kernel command line (the kernel puts unknown
# name=value parameters into our environment), base64-encoded so that
# spaces and quotes survive:
#   bublk_work=<b64>   absolute host path of the checkout
#   bublk_cmd=<b64>    shell command to run in the chroot (built by run.sh)
#
# Exit status 97 in the marker means the VM itself could not be set up.

/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

log() { echo "vm-init: $*"; }

# Report the status and power off; never returns.
finish() {
	echo "BUBLK_VM_EXIT=$1"
	sync
	poweroff -f
	sleep 10 # poweroff -f should not return; if it does, init exits -> panic
	exit "$1"
}
die() {
	log "ERROR: $*"
	finish 97
}

log "kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime)s"

# --- modules --------------------------------------------------------------
# boot-modules lists the modules to load, dependencies first (build-kernel.sh).
KVER=$(uname -r)
MDIR=/lib/modules/$KVER
[ -f "$MDIR/boot-modules" ] || die "no $MDIR/boot-modules in the initramfs (kernel mismatch?)"
while read -r ko; do
	insmod "$MDIR/$ko" || die "insmod $ko failed"
done <"$MDIR/boot-modules"
[ -c /dev/ublk-control ] || die "/dev/ublk-control missing after loading ublk_drv"

# --- parameters -----------------------------------------------------------
if [ -z "$bublk_work" ] || [ -z "$bublk_cmd" ]; then
	die "missing bublk_work= / bublk_cmd= on the kernel command line"
fi
WORK=$(echo "$bublk_work" | base64 -d) || die "bad bublk_work"
CMD=$(echo "$bublk_cmd" | base64 -d) || die "bad bublk_cmd"

# --- host root + checkout -------------------------------------------------
# cache=loose lets the guest page-cache 9p files: without it every page of
# every shared library is a 9p round trip under TCG and starting e.g. fio
# takes ~20 s instead of <1 s.  The price is that host-side changes made
# while the VM runs may go unseen; guest writes to the checkout are flushed
# by the sync in finish().
P9=trans=virtio,version=9p2000.L,msize=262144,cache=loose
H=/host
mount -t 9p -o "$P9,ro" hostroot $H || die "cannot mount host / over 9p (tag hostroot)"

# Fresh kernel filesystems inside the chroot (the host's are meaningless here).
mount -t proc proc $H/proc || die "mount $H/proc"
mount -t sysfs sysfs $H/sys || die "mount $H/sys"
mount -t devtmpfs devtmpfs $H/dev || die "mount $H/dev"
mkdir -p $H/dev/pts $H/dev/shm $H/dev/hugepages
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $H/dev/pts || die "mount devpts"
mount -t tmpfs -o mode=1777 tmpfs $H/dev/shm || die "mount $H/dev/shm"
ln -sf /proc/self/fd $H/dev/fd
ln -sf /proc/self/fd/0 $H/dev/stdin
ln -sf /proc/self/fd/1 $H/dev/stdout
ln -sf /proc/self/fd/2 $H/dev/stderr
mount -t tmpfs -o mode=1777 tmpfs $H/tmp || die "mount $H/tmp"
mount -t tmpfs -o mode=755 tmpfs $H/run || die "mount $H/run"
mount -t bpf -o mode=700 bpf $H/sys/fs/bpf || die "mount bpffs"
# Best effort: handy for BPF debugging (bpftool prog tracelog).
mount -t tracefs tracefs $H/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs $H/sys/kernel/debug 2>/dev/null

echo 64 >/proc/sys/vm/nr_hugepages
mount -t hugetlbfs hugetlbfs $H/dev/hugepages || die "mount hugetlbfs"

# The checkout goes last, so that it stays visible even when it lives under
# a directory we just covered with a tmpfs (e.g. a CI clone in /tmp).
mkdir -p "$H$WORK" 2>/dev/null
mount -t 9p -o "$P9" work "$H$WORK" ||
	die "cannot mount checkout $WORK over 9p (tag work)"

# Modules for guest scripts: `modprobe -d "$BUBLK_VM_MODROOT" null_blk`.
mkdir -p $H/run/bublk-vm/lib
cp -a /lib/modules $H/run/bublk-vm/lib/

ip link set lo up 2>/dev/null

# --- run ----------------------------------------------------------------
log "up $(cut -d' ' -f1 /proc/uptime)s, running in chroot: $CMD"
env -i \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 \
	BUBLK_IN_VM=1 BUBLK_VM_MODROOT=/run/bublk-vm \
	/bin/chroot $H /bin/sh -c "$CMD" </dev/null
rc=$?
log "done after $(cut -d' ' -f1 /proc/uptime)s, status $rc"
finish $rc
