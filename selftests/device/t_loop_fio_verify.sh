#!/bin/bash
# loop target: fio random writes, read back and verified with crc32c.
. "$(dirname "$0")/lib.sh"

img=$TMP/disk.img
truncate -s 128M "$img"
id=$(add_dev -t loop -f "$img" -d 64)
dev=/dev/ublkb$id
must fio --name=verify --filename="$dev" --rw=randwrite --bsrange=4k-128k --iodepth=16 \
	--direct=1 --ioengine=io_uring --size=128M --io_size=48M --verify=crc32c --verify_state_save=0 \
	--do_verify=1 --verify_fatal=1 --randrepeat=0 --output="$TMP/fio.out"
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio reported errors"; }
must "$BUBLK" del -n "$id"
assert_no_devices
echo "fio randwrite 48M + crc32c verify passed"
