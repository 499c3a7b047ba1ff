#!/bin/bash
# fsync and FUA reach the backing file: the backing file sits on ext4 on a
# null_blk disk with a volatile write cache, whose flush counter shows
# every cache flush the daemon's fdatasync / RWF_DSYNC caused. A plain
# O_DIRECT write (no FUA, no fsync) is the control: it must flush nothing.
. "$(dirname "$0")/lib.sh"

need_module ext4
# our own null_blk: another test may have loaded it with other parameters
rmmod null_blk 2>/dev/null
modprobe -d "${BUBLK_VM_MODROOT:-/}" null_blk nr_devices=1 memory_backed=1 cache_size=64 gb=1 ||
	die "cannot load null_blk with a volatile cache"
[ "$(cat /sys/block/nullb0/queue/write_cache)" = "write back" ] || die "nullb0 has no volatile cache"
mnt=$TMP/mnt
mkdir -p "$mnt"
must mkfs.ext4 -q -F /dev/nullb0
# a long journal commit interval and lazy timestamps: the only flushes are
# the ones we cause
must mount -o noatime,lazytime,commit=600 /dev/nullb0 "$mnt"
# the device goes first (its daemon holds the file), then the filesystem
trap '"$BUBLK" del -a --force >/dev/null 2>&1; umount "$mnt" 2>/dev/null; cleanup; rmmod null_blk 2>/dev/null' EXIT
# written extents (not fallocated ones): later writes change no metadata
must dd if=/dev/zero of="$mnt/disk.img" bs=1M count=64 conv=fsync status=none
sync
id=$(add_dev -t loop -f "$mnt/disk.img")
dev=/dev/ublkb$id
[ "$(cat /sys/block/ublkb$id/queue/write_cache)" = "write back" ] || die "ublkb$id does not advertise a volatile cache"
[ "$(cat /sys/block/ublkb$id/queue/fua)" = 1 ] || die "ublkb$id does not advertise FUA"
flushes() { awk '{print $16}' /sys/block/nullb0/stat; }
# wait until no flush has happened for a second (a journal commit may still be finishing)
settle() {
	local a b
	for _ in $(seq 30); do
		a=$(flushes); sleep 1; b=$(flushes)
		[ "$a" = "$b" ] && return 0
	done
	die "the backing disk keeps flushing on its own"
}
head -c 64K /dev/urandom > "$TMP/pat"
# warm up (first writes may touch ext4 metadata), then settle
must dd if="$TMP/pat" of="$dev" bs=64k count=1 oflag=direct conv=fdatasync status=none
must dd if="$TMP/pat" of="$dev" bs=4k count=16 oflag=direct status=none
settle

# 16 plain writes against 16 FUA writes: each FUA write must flush the
# backing disk; the plain ones may meet at most a stray journal commit
f0=$(flushes)
must dd if="$TMP/pat" of="$dev" bs=4k count=16 oflag=direct status=none
sleep 1
f1=$(flushes)
[ $((f1 - f0)) -le 2 ] || die "16 plain O_DIRECT writes caused $((f1 - f0)) cache flushes on the backing disk"

must dd if="$TMP/pat" of="$dev" bs=4k count=16 seek=32 oflag=direct,dsync status=none
f2=$(flushes)
[ $((f2 - f1)) -ge 16 ] ||
	die "16 O_DSYNC (FUA) writes flushed the backing disk only $((f2 - f1)) times (plain writes: $((f1 - f0)))"

must dd if="$TMP/pat" of="$dev" bs=64k count=1 seek=8 conv=fdatasync status=none
f3=$(flushes)
[ "$f3" -gt "$f2" ] || die "fdatasync on the device did not flush the backing disk (flushes $f2 -> $f3)"

cmp <(dd if="$mnt/disk.img" bs=4k skip=32 count=1 status=none) <(head -c 4K "$TMP/pat") ||
	die "the FUA write is not in the backing file"
must "$BUBLK" del -n "$id"
must umount "$mnt"
assert_no_devices
echo "backing-disk flushes: 16 plain writes $((f1 - f0)), 16 FUA writes $((f2 - f1)), one fdatasync $((f3 - f2))"
