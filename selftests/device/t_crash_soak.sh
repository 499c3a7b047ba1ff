#!/bin/bash
# Crash soak: kill -9 the daemon of a --recovery device at random moments
# (BUBLK_SOAK_KILLS times, default 10; make soak: 100) while fio writes and verifies;
# "bublk recover" takes over each time. Every fio round must finish with
# verification passing and no I/O error.
. "$(dirname "$0")/lib.sh"

kills_wanted=${BUBLK_SOAK_KILLS:-10}
img=$TMP/disk.img
truncate -s 64M "$img"
id=$(add_dev -t loop -f "$img" -q 2 -d 32 --recovery)
dev=/dev/ublkb$id

start_fio() {
	fio --name=soak$1 --filename="$dev" --rw=randwrite --bsrange=4k-128k --iodepth=16 --direct=1 \
		--ioengine=io_uring --size=64M --io_size=256M --verify=crc32c --verify_state_save=0 \
		--do_verify=1 --verify_fatal=1 --randrepeat=0 --output="$TMP/fio$1.out" &
	fio_pid=$!
}

# a round that ended: it must have verified cleanly
check_round() {
	wait "$fio_pid" || { cat "$TMP/fio$1.out"; die "fio round $1 failed (status $?) after $kills kills"; }
	grep -q "err= 0" "$TMP/fio$1.out" || { cat "$TMP/fio$1.out"; die "fio round $1 saw errors"; }
}

kills=0
round=1
start_fio $round
while [ "$kills" -lt "$kills_wanted" ]; do
	# a random moment 0.1-1.0 s into this life of the daemon
	sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
	sleep 0.1
	if ! kill -0 "$fio_pid" 2>/dev/null; then
		check_round $round
		round=$((round + 1))
		start_fio $round
		continue
	fi
	pid=$(dev_pid "$id")
	kill -9 "$pid" || die "kill -9 $pid failed"
	kills=$((kills + 1))
	wait_gone "$pid"
	out=$("$BUBLK" recover -n "$id" 2>&1) || die "recover #$kills failed: $out"
	newpid=$(dev_pid "$id")
	[ -n "$newpid" ] && [ "$newpid" != "$pid" ] || die "recover #$kills: state names pid \"$newpid\""
	kill -0 "$newpid" || die "recover #$kills: new daemon $newpid is not running"
done
check_round $round
must "$BUBLK" del -n "$id"
assert_no_devices
echo "$kills kill -9 + recover during $round fio verify round(s): all verified, no I/O error"
