#!/bin/bash
# mirror target: fio verify with identical legs; then one leg (a fault
# device) starts failing mid-run: fio still passes, the leg is marked
# failed in the pinned map, and that survives a daemon kill + recover.
. "$(dirname "$0")/lib.sh"

# 1. two healthy legs: identical after fio
truncate -s 16M "$TMP/l0.img" "$TMP/l1.img"
id=$(add_dev -t mirror -f "$TMP/l0.img,$TMP/l1.img" -q 2 -d 32)
fio_verify /dev/ublkb$id healthy || { cat "$TMP/healthy.out"; die "fio failed on a healthy mirror"; }
must "$BUBLK" del -n "$id"
cmp -s "$TMP/l0.img" "$TMP/l1.img" || die "legs differ after fio"
[ "$(head -c 1M "$TMP/l0.img" | tr -d '\0' | wc -c)" -gt 0 ] || die "nothing was written to the legs"

# 2. leg 0 is a fault device that starts failing everything mid-run
truncate -s 16M "$TMP/f0.img" "$TMP/m1.img"
fid=$(add_dev -t fault -f "$TMP/f0.img")
mid=$(add_dev -t mirror -f "/dev/ublkb$fid,$TMP/m1.img" --recovery)
legs=/sys/fs/bpf/bublk/$mid/mirror_legs
[ -e "$legs" ] || die "$legs is not pinned"
# rate-limited (64 MiB take 4 s at least): once 4 MiB are written, fio is still running
fio_verify /dev/ublkb$mid failover --io_size=64M --rate=16m &
fio_pid=$!
written() { awk '{ print $7 }' /sys/block/ublkb$mid/stat; }	# sectors
for _ in $(seq 600); do
	[ "$(written)" -ge 8192 ] && break
	kill -0 $fio_pid 2>/dev/null || break
	sleep 0.05
done
kill -0 $fio_pid 2>/dev/null || die "fio finished before the leg failed"
# ops = all (0x2f), err = EIO, whole device
must bpftool map update pinned "/sys/fs/bpf/bublk/$fid/fault_rules" key 0 0 0 0 \
	value 0x2f 0 0 0 5 0 0 0  0 0 0 0 0 0 0 0  0 0 0 0 0 0 0 0  0 0 0 0 0 0 0 0 \
	0 0 0 0 0 0 0 0  0 0 0 0 0 0 0 0
wait $fio_pid || { cat "$TMP/failover.out"; die "fio failed while one leg survived"; }
grep -q "err= 0" "$TMP/failover.out" || die "fio saw errors"
hits=$(bpftool map dump pinned "/sys/fs/bpf/bublk/$fid/fault_rules" | grep -m1 -o '"hits": [0-9]*' | grep -o '[0-9]*$')
[ "${hits:-0}" -gt 0 ] || die "the fault leg never failed a request (hits=$hits): the test did not test failover"
failed0=$(bpftool map lookup pinned "$legs" key 0 0 0 0 | grep -o '"failed": [0-9]*' | grep -o '[0-9]*$')
failed1=$(bpftool map lookup pinned "$legs" key 1 0 0 0 | grep -o '"failed": [0-9]*' | grep -o '[0-9]*$')
[ "$failed0" = 1 ] && [ "$failed1" = 0 ] || die "mirror_legs: leg 0 failed=$failed0, leg 1 failed=$failed1"

# 3. the failed-leg state survives a daemon crash and recovery
pid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "/run/bublk/$mid.json")
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
must "$BUBLK" recover -n "$mid" >/dev/null
failed0=$(bpftool map lookup pinned "$legs" key 0 0 0 0 | grep -o '"failed": [0-9]*' | grep -o '[0-9]*$')
[ "$failed0" = 1 ] || die "leg 0 is healthy again after recovery (failed=$failed0)"
fio --name=reread --filename=/dev/ublkb$mid --rw=read --bs=64k --direct=1 --ioengine=io_uring \
	--size=16M --output="$TMP/reread.out" || die "reads failed after recovery"
must "$BUBLK" del -n "$mid"
must "$BUBLK" del -n "$fid"
assert_no_devices
echo "healthy legs identical; leg 0 failed mid-fio ($hits faults), fio passed, state kept across recover"
