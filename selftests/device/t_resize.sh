#!/bin/bash
# bublk resize (UBLK_F_UPDATE_SIZE): a live loop device grows after its
# backing file did; ext4 on it grows online with resize2fs and stays fsck
# clean; fio verifies across the new range. Sizes the target or the block
# size refuse, and shrinking a mounted device, fail with a clear error and
# leave the device as it was.
. "$(dirname "$0")/lib.sh"

need_feature UPDATE_SIZE
need_module ext4

size_is() {	# bytes what
	local got
	got=$(blockdev --getsize64 "$dev") || die "blockdev --getsize64 $dev failed"
	[ "$got" = "$1" ] || die "$2: $dev has $got bytes, expected $1"
}

img=$TMP/disk.img
truncate -s 64M "$img"
id=$(add_dev -t loop -f "$img" -q 2 -d 32)
dev=/dev/ublkb$id
size_is $((64 << 20)) "after add"
mnt=$TMP/mnt
mkdir -p "$mnt"
must mkfs.ext4 -q -F "$dev"
must mount "$dev" "$mnt"
head -c $((20 << 20)) /dev/urandom >"$mnt/before"

# refused: the file does not hold 128M yet; the target says so
out=$("$BUBLK" resize -n "$id" 128M 2>&1) && die "resize beyond the backing file succeeded: $out"
echo "$out" | grep -q "smaller than that: grow it first" || die "resize beyond the file said: $out"
size_is $((64 << 20)) "after a refused resize"
# refused: not a multiple of the logical block size
out=$("$BUBLK" resize -n "$id" $(((64 << 20) + 100)) 2>&1) && die "misaligned resize succeeded: $out"
echo "$out" | grep -q "not a multiple of the device's logical block size (512 bytes)" ||
	die "misaligned resize said: $out"
size_is $((64 << 20)) "after a misaligned resize"

# grow the file, then the device, then the filesystem, all while mounted
truncate -s 128M "$img"
out=$("$BUBLK" resize -n "$id" 128M) || die "resize to 128M failed"
echo "$out" | grep -q "is now 134217728 bytes" || die "resize said: $out"
size_is $((128 << 20)) "after resize"
grep -Eq '"size": ?134217728' "/run/bublk/$id.json" ||
	die "state file not updated: $(cat "/run/bublk/$id.json")"
must resize2fs "$dev" >"$TMP/resize2fs.out" 2>&1
blocks=$(dumpe2fs -h "$dev" 2>/dev/null | sed -n 's/^Block count: *//p')
bsize=$(dumpe2fs -h "$dev" 2>/dev/null | sed -n 's/^Block size: *//p')
[ $((blocks * bsize)) -gt $((120 << 20)) ] || die "ext4 did not grow: $blocks blocks of $bsize"
# the new space holds data: 70M more than the old device could
head -c $((70 << 20)) /dev/urandom >"$mnt/after" || die "writing into the grown filesystem failed"
(cd "$mnt" && md5sum before after) >"$TMP/sums"

# refused: shrinking the mounted device would cut the filesystem off
out=$("$BUBLK" resize -n "$id" 64M 2>&1) && die "shrinking a mounted device succeeded: $out"
echo "$out" | grep -q "is mounted or held open" || die "shrinking a mounted device said: $out"
size_is $((128 << 20)) "after a refused shrink"

must umount "$mnt"
must fsck.ext4 -fn "$dev"
must mount "$dev" "$mnt"
(cd "$mnt" && md5sum -c --quiet "$TMP/sums") || die "files differ after remount"
must umount "$mnt"

# fio across the old end and the new range, verified
must fio --name=grown --filename="$dev" --rw=randwrite --bsrange=4k-128k --offset=56M --size=72M \
	--direct=1 --ioengine=io_uring --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--verify_state_save=0 --output="$TMP/fio.out"
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio saw errors"; }

# unmounted, a shrink is allowed; reads past the new end see nothing
must "$BUBLK" resize -n "$id" 96M >/dev/null
size_is $((96 << 20)) "after shrinking"
n=$(dd if="$dev" bs=1M skip=96 count=1 iflag=direct 2>/dev/null | wc -c)
[ "$n" = 0 ] || die "read $n bytes past the shrunk end"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "resize: 64M -> 128M live (ext4 grown, fsck clean, fio verify over 56M-128M), 128M -> 96M; refusals clear"
