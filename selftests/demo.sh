#!/bin/bash
# The main job: create a ublk device served by the BPF "loop" target, do
# real I/O on it, show what happened, delete it. Runs in the VM when this
# machine has no ublk driver.
cd "$(dirname "$0")/.." || exit 1
if [ ! -e /dev/ublk-control ] && [ -z "${BUBLK_IN_VM:-}" ]; then
	# the newest kernel Debian packages (trixie-backports; BUBLK_VM_KSET=6.12 for Debian 12's)
	export BUBLK_VM_KSET=${BUBLK_VM_KSET:-newest}
	echo "demo: no /dev/ublk-control here ($(uname -r)): running in the test VM (Debian's kernel set $BUBLK_VM_KSET, qemu TCG)"
	exec bash selftests/vm/run.sh selftests/demo.sh
fi
set -e
B=./build/bublk
img=$(mktemp /tmp/bublk-demo.XXXXXX.img)
trap '$B del -a --force >/dev/null 2>&1; rm -f "$img"' EXIT
truncate -s 256M "$img"

step() { printf '\n### %s\n' "$*"; }

step "kernel $(uname -r): ublk features"
$B features
step "bublk add -t loop -f $img  (the BPF program bpf/loop.bpf.c decides where each request goes)"
dev=$($B add -t loop -f "$img" -q 2 -d 64)
echo "$dev is live"
$B list
step "fio: 64 MiB of random writes with crc32c checksums, read back and verified"
fio --name=demo --filename="$dev" --rw=randwrite --bsrange=4k-256k --iodepth=16 --direct=1 \
	--ioengine=io_uring --size=256M --io_size=64M --verify=crc32c --verify_state_save=0 --do_verify=1 \
	--verify_fatal=1 --group_reporting | grep -E 'WRITE:|READ:|err=|verify'
step "the data is in the backing file: first 1 MiB through the device vs the file"
cmp <(dd if="$dev" bs=1M count=1 iflag=direct status=none) <(dd if="$img" bs=1M count=1 status=none) \
	&& echo "identical"
step "a filesystem on it"
mnt=$(mktemp -d)
mkfs.ext4 -q -F "$dev"
[ -n "${BUBLK_VM_MODROOT:-}" ] && modprobe -d "$BUBLK_VM_MODROOT" ext4 2>/dev/null
if mount "$dev" "$mnt" 2>/dev/null; then
	cp -r /usr/include/linux "$mnt/" && sync
	echo "copied $(find "$mnt" -type f | wc -l) files; $(df -h "$mnt" | tail -1 | awk '{print $3}') used"
	umount "$mnt"
	fsck.ext4 -fn "$dev" >/dev/null && echo "fsck: clean"
else
	echo "(ext4 not available in this kernel: skipped the mount)"
fi
rmdir "$mnt"
step "bublk list --json"
$B list --json
step "bublk del"
$B del -a
$B list
