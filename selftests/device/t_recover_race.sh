#!/bin/bash
# Two "bublk recover -n N" at once after kill -9 of a --recovery daemon
# (security review 9): exactly one takes the device over, the other fails
# at once saying who has it; the pins are the winner's, so "bublk stats"
# counts the I/O done afterwards, and the data written before the crash
# is there.
. "$(dirname "$0")/lib.sh"

writes() {	# id: write requests bublk stats counts
	"$BUBLK" stats -n "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['ops']['write']['reqs'])"
}

img=$TMP/disk.img
truncate -s 64M "$img"
head -c 1M /dev/urandom >"$TMP/pat"
progs0=$(nprogs)

for round in 1 2 3; do
	id=$(add_dev -t loop -f "$img" --recovery)
	pid=$(dev_pid "$id")
	must dd if="$TMP/pat" of="/dev/ublkb$id" bs=64k oflag=direct status=none
	kill -9 "$pid"
	wait_gone "$pid" "daemon (SIGKILL)"

	"$BUBLK" recover -n "$id" >"$TMP/r1.out" 2>&1 &
	r1=$!
	"$BUBLK" recover -n "$id" >"$TMP/r2.out" 2>&1 &
	r2=$!
	wait "$r1"; s1=$?
	wait "$r2"; s2=$?
	if [ "$s1" = 0 ] && [ "$s2" != 0 ]; then
		lost=$TMP/r2.out
	elif [ "$s2" = 0 ] && [ "$s1" != 0 ]; then
		lost=$TMP/r1.out
	else
		die "round $round: recover exit statuses $s1 and $s2, not one winner: $(cat "$TMP/r1.out" "$TMP/r2.out")"
	fi
	newpid=$(dev_pid "$id")
	[ -n "$newpid" ] && [ "$newpid" != "$pid" ] || die "round $round: the state file names pid $newpid"
	# the loser names the winner's daemon (or, at worst, names it without its pid)
	grep -Eq "dev $id is being (recovered|served) by pid $newpid|dev $id is busy" "$lost" ||
		die "round $round: old pid $pid, state names $newpid; the losing recover said: $(cat "$lost"); the winner said: $(cat "$TMP/r1.out" "$TMP/r2.out")"
	echo "round $round: winner pid $newpid; loser: $(cat "$lost")"

	# the pinned stats map is the one the winner's state file names...
	python3 - "/run/bublk/$id.json" "$(bpftool map show pinned "/sys/fs/bpf/bublk/$id/bublk_stats" | sed -n 's/^\([0-9]*\):.*/\1/p')" <<'PY' ||
import json, sys
st = json.load(open(sys.argv[1]))
assert st["bpf"]["maps"]["bublk_stats"] == int(sys.argv[2]), (st["bpf"]["maps"], sys.argv[2])
PY
		die "round $round: the pinned bublk_stats is not the serving daemon's"
	# ...and it counts the I/O the device serves
	w0=$(writes "$id")
	must dd if=/dev/zero of="/dev/ublkb$id" bs=4k seek=512 count=100 oflag=direct status=none
	w1=$(writes "$id")
	[ $((w1 - w0)) -ge 100 ] || die "round $round: bublk stats counted $((w1 - w0)) writes for 100"
	cmp <(dd if="/dev/ublkb$id" bs=64k count=16 iflag=direct status=none) "$TMP/pat" ||
		die "round $round: data written before the crash differs"
	must "$BUBLK" del -n "$id"
	assert_no_devices
	settles_to nprogs "$progs0" || die "round $round: $(( $(nprogs) - progs0 )) BPF programs left after del"
done
echo "3 rounds of two concurrent recovers: one winner each time, the loser refused naming it; stats count through the winner's pins"
