#!/bin/bash
# Zero copy with the buffers registered by the daemon
# (UBLK_F_SUPPORT_ZERO_COPY: REGISTER_IO_BUF before the backend I/O,
# UNREGISTER_IO_BUF at the commit), in the three ways a request gets
# there: --zero-copy=manual (every request; the mode of a 6.15 kernel), and
# the fallback of automatic registration (UBLK_IO_F_NEED_REG_BUF: the
# driver could not register it), forced for every request with the test
# hook BUBLK_TEST_ZC_FALLBACK=1, with per-tag commands and with --batch.
# Each way: loop on 2 queues (fio verify, device == file), stripe (the
# chunks where the target put them), mirror (legs identical), ZERO_FILL
# (zeros read back), and bublk stats counts the requests registered by
# hand. A default device registers none by hand.
. "$(dirname "$0")/lib.sh"
need_feature ZERO_COPY
has() { "$BUBLK" features | awk '{ print $2 }' | grep -qx "$1"; }
objs=$PWD/$BUBLK_O

mode_of() {	# id -> data_mode in list --json
	"$BUBLK" list --json | python3 -c "
import json, sys
print([d['data_mode'] for d in json.load(sys.stdin) if d['dev_id'] == $1][0])"
}
by_hand() {	# id -> requests whose buffer the daemon registered
	"$BUBLK" stats -n "$1" --json | python3 -c "import json, sys; print(json.load(sys.stdin)['reg_buf_reqs'])"
}
fio_check() {	# dev name size
	must fio --name="$2" --filename="$1" --rw=randwrite --bsrange=4k-512k --iodepth=16 \
		--size="$3" --direct=1 --ioengine=io_uring --verify=crc32c \
		--verify_state_save=0 --do_verify=1 --verify_fatal=1 --output="$TMP/fio-$2.out"
	grep -q "err= 0" "$TMP/fio-$2.out" || { cat "$TMP/fio-$2.out"; die "fio errors ($2)"; }
}

# every target's data path once, with add options "$@"; $how names the way
suite() {
	local id n

	truncate -s 32M "$TMP/loop.img"
	id=$(add_dev -t loop -f "$TMP/loop.img" -q 2 "$@")
	[ "$(mode_of "$id")" = "$mode" ] || die "$how: data mode $(mode_of "$id"), not $mode"
	fio_check "/dev/ublkb$id" "loop-$how" 24M
	cmp <(dd if="/dev/ublkb$id" bs=1M iflag=direct status=none) "$TMP/loop.img" ||
		die "$how: loop device and backing file differ"
	n=$(by_hand "$id")
	[ "$n" -gt 0 ] || die "$how: bublk stats counts no request registered by the daemon"
	must "$BUBLK" del -n "$id"

	for i in 0 1 2 3; do truncate -s 8M "$TMP/s$i.img"; done
	id=$(add_dev -t stripe -f "$TMP/s0.img,$TMP/s1.img,$TMP/s2.img,$TMP/s3.img" --chunk 64K "$@")
	fio_check "/dev/ublkb$id" "stripe-$how" 16M
	for c in 0 1 2 3 5 63 255; do
		f=$((c % 4)) at=$((c / 4))
		cmp <(dd if="/dev/ublkb$id" bs=64K skip=$c count=1 iflag=direct status=none) \
			<(dd if="$TMP/s$f.img" bs=64K skip=$at count=1 status=none) ||
			die "$how: stripe chunk $c is not chunk $at of file $f"
	done
	must "$BUBLK" del -n "$id"

	for i in 0 1; do truncate -s 16M "$TMP/m$i.img"; done
	id=$(add_dev -t mirror -f "$TMP/m0.img,$TMP/m1.img" "$@")
	fio_check "/dev/ublkb$id" "mirror-$how" 12M
	must "$BUBLK" del -n "$id"
	cmp "$TMP/m0.img" "$TMP/m1.img" || die "$how: mirror legs differ"

	# zfdelay zero-fills reads at or past 1 MiB
	head -c 4M /dev/urandom >"$TMP/zf.img"
	id=$(add_dev -t "$objs/selftests/targets/zfdelay.bpf.o" -f "$TMP/zf.img" "$@")
	cmp <(dd if="/dev/ublkb$id" bs=1M count=1 iflag=direct status=none) <(head -c 1M "$TMP/zf.img") ||
		die "$how: zfdelay's first MiB is not the file's"
	cmp <(dd if="/dev/ublkb$id" bs=64K skip=16 count=48 iflag=direct status=none) \
		<(head -c 3M /dev/zero) || die "$how: reads past 1 MiB are not zero-filled"
	must "$BUBLK" del -n "$id"
	echo "$how: loop ($n requests registered by hand), stripe, mirror, ZERO_FILL give back what was written"
}

how=manual mode=zero_copy_manual suite --zero-copy=manual
if has AUTO_BUF_REG; then
	# the default device asks for the fallback, and needs none of it
	truncate -s 16M "$TMP/d.img"
	id=$(add_dev -t loop -f "$TMP/d.img")
	fio_check "/dev/ublkb$id" default 8M
	[ "$(by_hand "$id")" = 0 ] || die "a default device registered $(by_hand "$id") requests by hand"
	must "$BUBLK" del -n "$id"
	export BUBLK_TEST_ZC_FALLBACK=1
	how=fallback mode=zero_copy suite
	if has BATCH_IO; then
		how=fallback-batch mode=zero_copy suite --batch
	else
		echo "fallback with --batch: not run, $(uname -r) lacks UBLK_F_BATCH_IO"
	fi
	unset BUBLK_TEST_ZC_FALLBACK
else
	echo "the fallback of automatic registration: not run, $(uname -r) lacks UBLK_F_AUTO_BUF_REG"
fi
"$BUBLK" features --json | python3 -c "
import json, sys
assert [n for n in json.load(sys.stdin)['names'] if n['name'] == 'ZERO_COPY' and n['used']]" ||
	die "bublk features --json does not mark ZERO_COPY used"
# a bad value is refused before anything is created
if "$BUBLK" add -t null -s 16M --zero-copy=auto 2>"$TMP/err"; then
	die "--zero-copy=auto was accepted"
fi
grep -q "only value is \"manual\"" "$TMP/err" || die "--zero-copy=auto: unclear error: $(cat "$TMP/err")"
assert_no_devices
echo "zero copy registered by the daemon (manual, and the driver's fallback with and without --batch) serves every target; the default device needs no fallback"
