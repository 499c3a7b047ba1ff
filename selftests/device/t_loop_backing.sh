#!/bin/bash
# loop target: what goes through the device is what lands in the backing
# file, at the same offsets, and what the file holds is what the device reads.
. "$(dirname "$0")/lib.sh"

img=$TMP/disk.img
truncate -s 32M "$img"
id=$(add_dev -t loop -f "$img")
dev=/dev/ublkb$id
[ "$(blockdev --getsize64 "$dev")" = $((32 << 20)) ] || die "device size differs from the file"

head -c $((3 << 20)) /dev/urandom > "$TMP/pat"
# 3 MiB at 5 MiB + 4 KiB, unaligned to the 512K max request: several requests
must dd if="$TMP/pat" of="$dev" bs=4k seek=$(((5 << 20) / 4096 + 1)) oflag=direct conv=notrunc status=none
must "$BUBLK" del -n "$id"
cmp <(dd if="$img" bs=4k skip=$(((5 << 20) / 4096 + 1)) count=768 status=none) "$TMP/pat" \
	|| die "backing file does not hold the written data at the written offset"
# nothing outside the written range
cmp -n $(((5 << 20) + 4096)) "$img" /dev/zero || die "bytes before the write changed"

# and the other way: file content appears on the device
head -c $((1 << 20)) /dev/urandom > "$TMP/pat2"
dd if="$TMP/pat2" of="$img" bs=1M seek=20 conv=notrunc status=none
id=$(add_dev -t loop -f "$img")
dev=/dev/ublkb$id
cmp <(dd if="$dev" bs=1M skip=20 count=1 iflag=direct status=none) "$TMP/pat2" \
	|| die "device does not read what the backing file holds"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "device writes land in the backing file at the same offsets, and back"
