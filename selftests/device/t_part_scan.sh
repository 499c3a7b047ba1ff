#!/bin/bash
# bublk add --no-part-scan (UBLK_F_NO_AUTO_PART_SCAN): a partition table on
# the backing file shows up as ublkbNp1 by default, not with the option,
# and then only on request (blockdev --rereadpt).
. "$(dirname "$0")/lib.sh"

need_feature NO_AUTO_PART_SCAN

img=$TMP/disk.img
truncate -s 64M "$img"
# an MBR with one Linux partition: LBA 2048, 16384 sectors (8M)
printf '\x00\x00\x00\x00\x83\x00\x00\x00\x00\x08\x00\x00\x00\x40\x00\x00' |
	dd of="$img" bs=1 seek=446 conv=notrunc status=none
printf '\x55\xaa' | dd of="$img" bs=1 seek=510 conv=notrunc status=none

wait_part() {	# id, seconds: 0 once ublkb<id>p1 exists, 1 if not by then
	local end=$((SECONDS + $2))
	while [ $SECONDS -le $end ]; do
		[ -e "/sys/block/ublkb$1/ublkb$1p1" ] && return 0
		sleep 0.05
	done
	return 1
}

# default: the kernel scans (asynchronously, after START_DEV)
id=$(add_dev -t loop -f "$img")
t0=$(date +%s%N)
wait_part "$id" 20 || die "no ublkb${id}p1 20 s after add without --no-part-scan"
took=$((($(date +%s%N) - t0) / 1000000))
[ "$(cat "/sys/block/ublkb$id/ublkb${id}p1/size")" = 16384 ] || die "ublkb${id}p1 has the wrong size"
must "$BUBLK" del -n "$id"
assert_no_devices

# --no-part-scan: absence can only be watched for a while; give the scan
# five times what it took above, and 2 s more
id=$(add_dev -t loop -f "$img" --no-part-scan)
wait_part "$id" $(((took * 5 + 999) / 1000 + 2)) && die "ublkb${id}p1 appeared with --no-part-scan"
# on request the partition is there
must blockdev --rereadpt "/dev/ublkb$id"
wait_part "$id" 20 || die "no ublkb${id}p1 after blockdev --rereadpt"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "partitions: scanned by default (${took} ms), not with --no-part-scan until blockdev --rereadpt"
