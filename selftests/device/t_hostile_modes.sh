#!/bin/bash
# The hostile test target in each of its modes (selftests/targets/hostile.bpf.c):
# every request it maps wrongly fails with EIO and is counted under its
# reason in the daemon's stats; requests below 1 MiB keep being served
# correctly; the backing file is never touched outside the good requests.
. "$(dirname "$0")/lib.sh"

obj=${BUBLK_O:-build}/selftests/targets/hostile.bpf.o
img=$TMP/disk.img
head -c $((2 << 20)) /dev/urandom > "$img"
# a zero first sector: random bytes must not look like a partition table
dd if=/dev/zero of="$img" bs=512 count=1 conv=notrunc status=none
cp "$img" "$TMP/orig"

# mode reason reads writes: hostile requests issued; writes are refused too
# except in modes 5 and 8 (only READs are hostile), where they succeed
cases="1 data_range
2 too_many_segs
3 bad_backend
4 backend_range
5 overlapping_reads
6 bad_op
7 bad_action
8 too_many_rounds"

while read -r mode reason; do
	id=$(add_dev -t "$obj" -f "$img" --size 2M --set mode="$mode")
	dev=/dev/ublkb$id
	pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' /run/bublk/$id.json)
	want=3
	[ "$mode" = 5 ] || [ "$mode" = 8 ] && want=2
	# the hostile and the good I/O, and the live counters (hostile_io.py says what)
	python3 "$(dirname "$0")/hostile_io.py" "$BUBLK" "$id" "$dev" "$TMP/orig" "$mode" "$reason" "$want" ||
		die "mode $mode: see above"
	kill -0 "$pid" 2>/dev/null || die "mode $mode: daemon died"
	must "$BUBLK" del -n "$id"
	# the stats line the daemon logs when it stops: this reason, this many
	stats=$(grep "stats:" /run/bublk/$id.log | tail -1)
	case "$stats" in
	*"refused: $reason=$want") ;;
	*) die "mode $mode: expected \"refused: $reason=$want\" in the daemon's stats, got: $stats" ;;
	esac
	grep -q "refused ($reason)" /run/bublk/$id.log || die "mode $mode: first refusal not logged"
	# the backing file: only the good 64K write changed it (hostile_io.py
	# wrote it into orig too; and modes 5 and 8's identical rewrite)
	[ "$(stat -c %s "$img")" = $((2 << 20)) ] || die "mode $mode: backing file size changed"
	cmp "$img" "$TMP/orig" || die "mode $mode: backing file changed outside good writes"
	echo "mode $mode: $want requests refused as $reason, good I/O served"
done <<<"$cases"
assert_no_devices
echo "8 hostile modes: each bad answer failed with EIO and was counted by reason; good I/O kept working"

# --- Security review 1: the target rewrites the batch's tag lists in the arena ---
# Modes 9-12 answer correctly, then write 60000, depth or 0 over the tag list
# behind a request at or past 1 MiB, or 60000 over the bublk_done list. The
# runtime acts on its own copy of the tags: the daemon must survive, the
# requests complete (or, for the ones mode 11 hides behind tag 0, fail with
# EIO), nothing hangs, and a second device keeps serving with its data intact.

# the daemon is alive (and not a zombie)
alive() { local st; st=$(sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
# the process has exited (gone, or a zombie waiting to be reaped)
exited() { local st; st=$(sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null); [ -z "$st" ] || [ "$st" = Z ]; }

# wait (up to SECS) for background job PID to end, then return its status
wait_job() {	# pid secs what
	local i
	for i in $(seq $(($2 * 20))); do
		exited "$1" && { wait "$1"; return; }
		sleep 0.05
	done
	die "$3: still running after $2 s (state $(sed -n 's/^State:\s*//p' /proc/$1/status 2>/dev/null)): hung"
}

other_img=$TMP/other.img
truncate -s 16M "$other_img"
for mode in 9 10 11 12; do
	head -c $((2 << 20)) /dev/urandom > "$img"
	dd if=/dev/zero of="$img" bs=512 count=1 conv=notrunc status=none
	cp "$img" "$TMP/orig"
	id=$(add_dev -t "$obj" -f "$img" --size 2M --set mode="$mode")
	dev=/dev/ublkb$id
	pid=$(dev_pid "$id")
	other=$(add_dev -t loop -f "$other_img")
	# the other device: fio writing and verifying all through the attack
	fio --name=other --filename=/dev/ublkb$other --rw=randwrite --bs=4k --iodepth=8 \
		--direct=1 --ioengine=io_uring --size=16M --io_size=1M --verify=crc32c \
		--verify_state_save=0 --do_verify=1 --verify_fatal=1 --randrepeat=0 \
		--output="$TMP/other.out" &
	other_fio=$!
	if [ "$mode" != 11 ]; then
		# every request in the hostile range is answered correctly: all must complete
		fio --name=hostile --filename="$dev" --offset=1M --size=1M --rw=randwrite --bs=16k \
			--iodepth=16 --direct=1 --ioengine=io_uring --verify=crc32c --verify_state_save=0 \
			--do_verify=1 --verify_fatal=1 --randrepeat=0 --output="$TMP/fio.out" &
		wait_job $! 120 "mode $mode: fio on the hostile range" ||
			{ cat "$TMP/fio.out"; die "mode $mode: fio verify on the hostile range failed"; }
		grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "mode $mode: fio reported errors"; }
	else
		# batches of reads: a request either returns the right data or fails with EIO
		fio --name=hostile --filename="$dev" --offset=1M --size=1M --rw=randread --bs=16k \
			--iodepth=16 --direct=1 --ioengine=io_uring --continue_on_error=io \
			--output="$TMP/fio.out" &
		wait_job $! 120 "mode $mode: fio reads on the hostile range"
		jobs=()
		for blk in $(seq 256 271); do
			dd if="$dev" of="$TMP/r$blk" bs=4k skip=$blk count=1 iflag=direct status=none \
				2>"$TMP/e$blk" &
			jobs+=("$!:$blk")
		done
		for j in "${jobs[@]}"; do
			if wait_job "${j%%:*}" 60 "mode $mode: dd of block ${j#*:}"; then
				cmp "$TMP/r${j#*:}" <(dd if="$TMP/orig" bs=4k skip=${j#*:} count=1 status=none) ||
					die "mode $mode: block ${j#*:} read back wrong data"
			else
				grep -q "Input/output error" "$TMP/e${j#*:}" ||
					die "mode $mode: block ${j#*:}: expected data or EIO, got: $(cat "$TMP/e${j#*:}")"
			fi
		done
	fi
	alive "$pid" || die "mode $mode: daemon $pid died (tag list in the arena trusted?)"
	# the good half of the device: its data, and a write that lands
	cmp <(dd if="$dev" bs=64k count=16 iflag=direct status=none) <(head -c $((1 << 20)) "$TMP/orig") \
		|| die "mode $mode: good reads returned wrong data"
	head -c 65536 /dev/urandom > "$TMP/new"
	must dd if="$TMP/new" of="$dev" bs=64k seek=8 count=1 oflag=direct status=none
	cmp <(dd if="$dev" bs=64k skip=8 count=1 iflag=direct status=none) "$TMP/new" \
		|| die "mode $mode: good write did not read back"
	wait_job $other_fio 300 "mode $mode: fio on the other device" ||
		{ cat "$TMP/other.out"; die "mode $mode: fio verify on the other device failed"; }
	grep -q "err= 0" "$TMP/other.out" || { cat "$TMP/other.out"; die "mode $mode: other device: fio errors"; }
	alive "$pid" || die "mode $mode: daemon $pid died"
	"$BUBLK" del -n "$id" &
	wait_job $! 60 "mode $mode: bublk del -n $id" || die "mode $mode: bublk del -n $id failed"
	wait_gone "$pid" "mode $mode: daemon"
	"$BUBLK" del -n "$other" &
	wait_job $! 60 "mode $mode: bublk del -n $other" || die "mode $mode: bublk del of the other device failed"
	[ -e "$dev" ] && die "mode $mode: $dev still there after bublk del"
	grep -q "segfault\|AddressSanitizer" /run/bublk/$id.log && die "mode $mode: the daemon's log shows a crash"
	echo "mode $mode: tag list rewritten by the target; daemon kept serving, the other device's data verified"
done
assert_no_devices
echo "4 tag-list modes: the daemon acted only on its own tags"
