#!/bin/bash
# overlay target: copy-on-write over a read-only base. fio verify on part
# of the device; the base is never written; the overlay file's table holds
# exactly the written blocks with their data; a kill -9 + recover, and a
# brand-new device on the same files, both find every acknowledged write.
. "$(dirname "$0")/lib.sh"

head -c 16M /dev/urandom > "$TMP/base.img"
base_sum=$(md5sum < "$TMP/base.img")
truncate -s 16M "$TMP/ovl.img"	# 1M table + 3840 slots
id=$(add_dev -t overlay --base "$TMP/base.img" -f "$TMP/ovl.img" --recovery -q 2 -d 32)
dev=/dev/ublkb$id
[ "$(blockdev --getsize64 "$dev")" = $((16 << 20)) ] || die "size $(blockdev --getsize64 "$dev")"
[ "$(blockdev --getss "$dev")" = 4096 ] || die "logical block size $(blockdev --getss "$dev"), expected 4096"
cmp <(dd if="$dev" bs=1M iflag=direct status=none) "$TMP/base.img" || die "fresh overlay does not read as the base"

# every block of the first 8M written once, verified
must fio --name=overlay --filename="$dev" --rw=randwrite --bsrange=4k-64k --iodepth=16 --direct=1 \
	--ioengine=io_uring --size=8M --verify=crc32c --verify_state_save=0 --do_verify=1 \
	--verify_fatal=1 --output="$TMP/fio.out"
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio errors"; }
# 400K at 12M: blocks 3072-3171
head -c 400K /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=4k seek=3072 oflag=direct status=none
dd if="$dev" of="$TMP/view" bs=1M iflag=direct status=none || die "reading the device"

# the daemon dies; a new one rebuilds the block map from the overlay file
pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "/run/bublk/$id.json")
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
must "$BUBLK" recover -n "$id" >/dev/null
cmp <(dd if="$dev" bs=1M iflag=direct status=none) "$TMP/view" || die "writes lost across kill -9 + recover"
must "$BUBLK" del -n "$id"

# a new device on the same files
id=$(add_dev -t overlay --base "$TMP/base.img" -f "$TMP/ovl.img")
cmp <(dd if="/dev/ublkb$id" bs=1M iflag=direct status=none) "$TMP/view" || die "writes lost across del + add"
must "$BUBLK" del -n "$id"

[ "$(md5sum < "$TMP/base.img")" = "$base_sum" ] || die "the base image was modified"
blocks=$(python3 "$(dirname "$0")/layout.py" overlay "$TMP/view" "$TMP/base.img" "$TMP/ovl.img") ||
	die "overlay layout wrong"
[ "$blocks" = "0-2047,3072-3171" ] || die "overlay holds blocks $blocks, expected 0-2047,3072-3171"
assert_no_devices
echo "fio verify passed; base untouched; overlay holds exactly blocks $blocks; kept across recover and re-add"
