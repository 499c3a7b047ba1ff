#!/bin/bash
# kill -9 of the daemon in the middle of a fio verify run; "bublk recover"
# takes the device over; fio finishes with verification passing, no I/O error.
. "$(dirname "$0")/lib.sh"

img=$TMP/disk.img
truncate -s 128M "$img"
id=$(add_dev -t loop -f "$img" -q 2 -d 32 --recovery)
dev=/dev/ublkb$id
grep -q "\"recovery\": true" /run/bublk/$id.json || die "not a recovery device: $(cat /run/bublk/$id.json)"
pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' /run/bublk/$id.json)

fio --name=crash --filename="$dev" --rw=randwrite --bsrange=4k-128k --iodepth=16 --direct=1 \
	--ioengine=io_uring --size=128M --io_size=160M --verify=crc32c --verify_state_save=0 --do_verify=1 \
	--verify_fatal=1 --output="$TMP/fio.out" &
fio_pid=$!
sleep 2
kill -0 $fio_pid 2>/dev/null || { cat "$TMP/fio.out"; die "fio finished before the crash"; }
kill -9 "$pid"
sleep 0.5
must "$BUBLK" recover -n "$id"
newpid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' /run/bublk/$id.json)
[ "$newpid" != "$pid" ] || die "state still names the dead daemon"
wait $fio_pid || { cat "$TMP/fio.out"; die "fio failed across the crash (status $?)"; }
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio saw errors"; }
must "$BUBLK" del -n "$id"
assert_no_devices
echo "daemon $pid killed mid-run, recovered by $newpid; fio verify passed with no error"
