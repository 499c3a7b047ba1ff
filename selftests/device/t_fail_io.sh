#!/bin/bash
# --recovery=fail-io (UBLK_F_USER_RECOVERY_FAIL_IO): with the daemon killed,
# reads fail at once instead of waiting; bublk recover brings service back
# with the data intact.
. "$(dirname "$0")/lib.sh"

need_feature RECOVERY_FAIL_IO

img=$TMP/disk.img
head -c $((8 << 20)) /dev/urandom >"$img"
truncate -s 64M "$img"
want=$(head -c $((8 << 20)) "$img" | md5sum)
id=$(add_dev -t loop -f "$img" -q 2 --recovery=fail-io)
dev=/dev/ublkb$id
pid=$(dev_pid "$id")
[ -n "$pid" ] || die "no daemon pid in /run/bublk/$id.json"

kill -9 "$pid"
wait_gone "$pid" "killed daemon"
t0=$(date +%s%N)
timeout 20 dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct 2>"$TMP/dd.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ $rc = 124 ] && die "a read with no daemon hung for 20 s (fail-io should fail it)"
[ $rc = 0 ] && die "a read with no daemon succeeded"
# the driver fails them BLK_STS_TARGET, which reaches user space as EREMOTEIO
grep -Eq "Input/output error|Remote I/O error" "$TMP/dd.err" || die "the read failed with: $(cat "$TMP/dd.err")"
[ $ms -lt 5000 ] || die "the failing read took $ms ms"
must "$BUBLK" recover -n "$id" >/dev/null
got=$(dd if="$dev" bs=1M count=8 iflag=direct 2>/dev/null | md5sum)
[ "$got" = "$want" ] || die "data differ after recover"
must fio --name=after --filename="$dev" --rw=randwrite --bs=4k --size=16M --offset=16M --direct=1 \
	--ioengine=io_uring --iodepth=8 --verify=crc32c --do_verify=1 --verify_fatal=1 \
	--verify_state_save=0 --output="$TMP/fio.out"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "fail-io: with the daemon killed a read failed in $ms ms ($(sed -n '1s/.*: //p' "$TMP/dd.err")); recovered, data intact"
