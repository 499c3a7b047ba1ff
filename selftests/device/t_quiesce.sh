#!/bin/bash
# bublk quiesce (UBLK_F_QUIESCE): under a running fio verify, the daemon
# hands the device over (queues aborted, /dev/ublkcN closed, daemon gone,
# device kept); bublk recover takes over and fio ends with no I/O error.
# A device without --recovery is refused and keeps serving.
. "$(dirname "$0")/lib.sh"

need_feature QUIESCE

img=$TMP/disk.img
truncate -s 64M "$img"

# refused without --recovery: nobody could take it over
id=$(add_dev -t loop -f "$img")
out=$("$BUBLK" quiesce -n "$id" 2>&1) && die "quiesce of a device without --recovery succeeded"
echo "$out" | grep -q "not created with --recovery" || die "quiesce without --recovery said: $out"
dd if="/dev/ublkb$id" of=/dev/null bs=1M count=1 iflag=direct 2>/dev/null || die "refused quiesce broke the device"
must "$BUBLK" del -n "$id"

img=$TMP/disk2.img
truncate -s 128M "$img"
id=$(add_dev -t loop -f "$img" -q 2 -d 32 --recovery)
dev=/dev/ublkb$id
pid=$(dev_pid "$id")
fio --name=handover --filename="$dev" --rw=randwrite --bsrange=4k-128k --iodepth=16 --direct=1 \
	--ioengine=io_uring --size=128M --io_size=160M --verify=crc32c --verify_state_save=0 \
	--do_verify=1 --verify_fatal=1 --output="$TMP/fio.out" &
fio_pid=$!
# wait until fio's writes reach the device
for i in $(seq 600); do
	w=$(awk '{ print $5 }' "/sys/block/ublkb$id/stat")
	[ "${w:-0}" -gt 100 ] && break
	kill -0 $fio_pid 2>/dev/null || { cat "$TMP/fio.out"; die "fio ended before the handover"; }
	sleep 0.05
done
[ "${w:-0}" -gt 100 ] || die "fio wrote nothing in 30 s"
must "$BUBLK" quiesce -n "$id"
wait_gone "$pid" "quiesced daemon"
[ -e "/sys/block/ublkb$id" ] || die "the quiesced device is gone"
kill -0 $fio_pid 2>/dev/null || { cat "$TMP/fio.out"; die "fio ended while the device was quiesced"; }
must "$BUBLK" recover -n "$id" >/dev/null
newpid=$(dev_pid "$id")
[ "$newpid" != "$pid" ] || die "state still names the old daemon"
wait $fio_pid || { cat "$TMP/fio.out"; die "fio failed across the handover (status $?)"; }
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio saw errors"; }
grep -q "quiesced: closing" "/run/bublk/$id.log" || die "the old daemon's log does not say it quiesced"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "quiesce: daemon $pid handed over to $newpid under fio; verify passed with no error"
