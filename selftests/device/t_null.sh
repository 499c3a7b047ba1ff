#!/bin/bash
# null target: reads and writes of every size succeed, fio agrees; del removes it.
. "$(dirname "$0")/lib.sh"

id=$(add_dev -t null --size 256M)
dev=/dev/ublkb$id
[ "$(blockdev --getsize64 "$dev")" = $((256 << 20)) ] || die "size is $(blockdev --getsize64 "$dev")"
must dd if="$dev" of=/dev/null bs=4k count=256 iflag=direct status=none
must dd if=/dev/zero of="$dev" bs=1M count=16 oflag=direct status=none
must fio --name=null --filename="$dev" --rw=randrw --bs=4k --iodepth=32 --direct=1 \
	--ioengine=io_uring --size=64M --io_size=16M --output=/dev/null
"$BUBLK" list --json | grep -q "\"target\": \"null\"" || die "list --json does not show the null device"
must "$BUBLK" del -n "$id"

# the driver's largest depth: more requests in flight than one BPF batch holds
id=$(add_dev -t null --size 64M -d 4096 --max-io 64K)
[ "$(cat /sys/block/ublkb$id/mq/0/nr_tags)" = 4096 ] || die "depth $(cat /sys/block/ublkb$id/mq/0/nr_tags), expected 4096"
must fio --name=deep --filename=/dev/ublkb$id --rw=randread --bs=4k --iodepth=2048 --direct=1 \
	--ioengine=io_uring --size=64M --io_size=16M --output=/dev/null
must "$BUBLK" del -n "$id"
assert_no_devices
echo "null device served reads, writes, fio randrw, and 2048 in flight at depth 4096"
