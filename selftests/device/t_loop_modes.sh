#!/bin/bash
# 4-queue loop device, fio verify in copy mode, in user-copy mode and,
# where the kernel has UBLK_F_AUTO_BUF_REG, in zero-copy mode; the mode the
# device runs in is the one asked for (list --json).
. "$(dirname "$0")/lib.sh"

modes="copy user-copy"
"$BUBLK" features | awk '{ print $2 }' | grep -qx AUTO_BUF_REG && modes="$modes zero-copy"
for mode in $modes; do
	img=$TMP/$mode.img
	truncate -s 96M "$img"
	id=$(add_dev -t loop -f "$img" -q 4 -d 32 "--$mode")
	dev=/dev/ublkb$id
	want=${mode/-/_}
	"$BUBLK" list --json | tr -d '\n' | grep -q "\"dev_id\": $id,[^}]*\"data_mode\": \"$want\"" \
		|| die "list --json does not show data_mode $want: $("$BUBLK" list --json)"
	# blk-mq uses at most one hardware context per CPU
	hctx=$(ls /sys/block/ublkb"$id"/mq | wc -l)
	want_hctx=$(( $(nproc) < 4 ? $(nproc) : 4 ))
	[ "$hctx" = "$want_hctx" ] || die "device has $hctx hw contexts, expected $want_hctx"
	[ "$(ls /proc/"$(dev_pid "$id")"/task | wc -l)" -ge 5 ] \
		|| die "daemon does not run 4 queue threads"
	must fio --name=$mode --filename="$dev" --rw=randwrite --bsrange=4k-256k --iodepth=32 \
		--numjobs=2 --offset_increment=48M --size=48M --io_size=24M --direct=1 \
		--ioengine=io_uring --verify=crc32c --verify_state_save=0 --do_verify=1 --verify_fatal=1 \
		--group_reporting --output="$TMP/fio-$mode.out"
	grep -q "err= 0" "$TMP/fio-$mode.out" || { cat "$TMP/fio-$mode.out"; die "fio errors in $mode mode"; }
	must "$BUBLK" del -n "$id"
	echo "$mode: fio verify passed on 4 queues"
done
assert_no_devices
echo "${modes// /, } modes pass fio verify with 4 queues"
