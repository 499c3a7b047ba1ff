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
	for blk in 256 400; do		# 4K blocks at 1 MiB and 1.56 MiB: hostile
		dd if="$dev" of=/dev/null bs=4k skip=$blk count=1 iflag=direct status=none 2>"$TMP/err" \
			&& die "mode $mode: hostile read at block $blk succeeded"
		grep -q "Input/output error" "$TMP/err" || die "mode $mode: expected EIO, got: $(cat "$TMP/err")"
	done
	if [ "$mode" = 5 ] || [ "$mode" = 8 ]; then
		want=2
		must dd if="$TMP/orig" of="$dev" bs=4k skip=300 seek=300 count=1 oflag=direct conv=notrunc status=none
	else
		dd if=/dev/zero of="$dev" bs=4k seek=300 count=1 oflag=direct status=none 2>"$TMP/err" \
			&& die "mode $mode: hostile write succeeded"
		grep -q "Input/output error" "$TMP/err" || die "mode $mode: expected EIO on write, got: $(cat "$TMP/err")"
	fi
	# good requests around the bad ones: right data, and writes land
	cmp <(dd if="$dev" bs=64k count=16 iflag=direct status=none) <(head -c $((1 << 20)) "$TMP/orig") \
		|| die "mode $mode: good reads returned wrong data"
	head -c 65536 /dev/urandom > "$TMP/new"
	must dd if="$TMP/new" of="$dev" bs=64k seek=8 count=1 oflag=direct status=none
	cmp <(dd if="$dev" bs=64k skip=8 count=1 iflag=direct status=none) "$TMP/new" \
		|| die "mode $mode: good write did not read back"
	kill -0 "$pid" 2>/dev/null || die "mode $mode: daemon died"
	# the live counters (the bublk_stats map) name the reason too
	got=$("$BUBLK" stats -n "$id" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['rejects'].get('$reason', 0))")
	[ "$got" = "$want" ] || die "mode $mode: bublk stats counts $got refusals as $reason, expected $want"
	must "$BUBLK" del -n "$id"
	# the stats line the daemon logs when it stops: this reason, this many
	stats=$(grep "stats:" /run/bublk/$id.log | tail -1)
	case "$stats" in
	*"refused: $reason=$want") ;;
	*) die "mode $mode: expected \"refused: $reason=$want\" in the daemon's stats, got: $stats" ;;
	esac
	grep -q "refused ($reason)" /run/bublk/$id.log || die "mode $mode: first refusal not logged"
	# the backing file: only the good 64K write changed it (and mode 5's identical rewrite)
	dd if="$TMP/new" of="$TMP/orig" bs=64k seek=8 count=1 conv=notrunc status=none
	[ "$(stat -c %s "$img")" = $((2 << 20)) ] || die "mode $mode: backing file size changed"
	cmp "$img" "$TMP/orig" || die "mode $mode: backing file changed outside good writes"
	echo "mode $mode: $want requests refused as $reason, good I/O served"
done <<<"$cases"
assert_no_devices
echo "8 hostile modes: each bad answer failed with EIO and was counted by reason; good I/O kept working"
