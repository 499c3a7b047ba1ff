#!/bin/bash
# Batched ublk commands (--batch, UBLK_F_BATCH_IO): one PREP for all tags,
# a multishot FETCH delivering tags, COMMIT arrays. In each data mode a
# 2-queue loop device passes fio verify and equals its backing file; a
# null device serves 1024 requests in flight; a --recovery device is
# killed mid-fio and recovered with no I/O error.
. "$(dirname "$0")/lib.sh"
need_feature BATCH_IO

flags_of() {	# id -> the ADD_DEV flags the kernel granted (list --json)
	"$BUBLK" list --json | python3 -c "
import json, sys
print([d['flags'] for d in json.load(sys.stdin) if d['dev_id'] == $1][0])"
}

modes="copy user-copy"
"$BUBLK" features | awk '{ print $2 }' | grep -qx AUTO_BUF_REG && modes="zero-copy $modes"
truncate -s 64M "$TMP/loop.img"
for mode in $modes; do
	id=$(add_dev -t loop -f "$TMP/loop.img" -q 2 -d 64 --batch "--$mode")
	[ $(( $(flags_of "$id") & (1 << 15) )) != 0 ] || die "$mode: device $id lacks UBLK_F_BATCH_IO"
	must fio --name="$mode" --filename="/dev/ublkb$id" --rw=randwrite --bsrange=4k-256k \
		--iodepth=64 --numjobs=2 --offset_increment=32M --size=32M --io_size=12M --direct=1 \
		--ioengine=io_uring --verify=crc32c --verify_state_save=0 --do_verify=1 \
		--verify_fatal=1 --group_reporting --output="$TMP/fio-$mode.out"
	grep -q "err= 0" "$TMP/fio-$mode.out" || { cat "$TMP/fio-$mode.out"; die "fio errors ($mode)"; }
	cmp <(dd if="/dev/ublkb$id" bs=1M iflag=direct status=none) "$TMP/loop.img" ||
		die "$mode: device and backing file differ"
	must "$BUBLK" del -n "$id"
	echo "$mode --batch: fio verify passed on 2 queues, device == backing file"
done

# many in flight at once: tags arrive and commit in arrays of up to depth
id=$(add_dev -t null --size 1G -d 1024 --batch)
must fio --name=deep --filename="/dev/ublkb$id" --rw=randread --bs=4k --iodepth=1024 \
	--direct=1 --ioengine=io_uring --size=1G --io_size=64M --output="$TMP/fio-null.out"
grep -q "err= 0" "$TMP/fio-null.out" || { cat "$TMP/fio-null.out"; die "null --batch: fio errors"; }
must "$BUBLK" del -n "$id"
echo "null --batch: 16384 reads at depth 1024"

# kill -9 mid-fio, recover: the new daemon arms every tag again with PREP
id=$(add_dev -t loop -f "$TMP/loop.img" --batch --recovery)
pid=$(dev_pid "$id")
fio --name=rec --filename="/dev/ublkb$id" --rw=randwrite --bs=16k --iodepth=16 --direct=1 \
	--ioengine=io_uring --size=32M --verify=crc32c --verify_state_save=0 --do_verify=1 \
	--verify_fatal=1 --output="$TMP/fio-rec.out" &
fio_pid=$!
# kill once the device has served writes
for _ in $(seq 600); do
	[ "$("$BUBLK" stats -n "$id" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['ops']['write']['reqs'])")" -gt 50 ] && break
	sleep 0.05
done
kill -9 "$pid"
wait_gone "$pid" "daemon (SIGKILL)"
must "$BUBLK" recover -n "$id" >/dev/null
wait "$fio_pid" || { cat "$TMP/fio-rec.out"; die "fio failed across kill -9 + recover"; }
grep -q "err= 0" "$TMP/fio-rec.out" || { cat "$TMP/fio-rec.out"; die "fio errors across recover"; }
[ $(( $(flags_of "$id") & (1 << 15) )) != 0 ] || die "recovered device lacks UBLK_F_BATCH_IO"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "batched commands: ${modes// /, } pass fio verify; 1024 in flight; kill -9 + recover with no I/O error"
