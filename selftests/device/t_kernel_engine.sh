#!/bin/bash
# The in-kernel engine (--engine kernel, Linux 7.1+, docs/kernel-engine.md):
# - null and loop devices are served inside io_uring_enter: every request
#   the block layer completed is one bublk's loop_step committed
#   (bublk stats: kernel_reqs), fio verify passes, the file holds the data;
# - both engines map the same requests to the same segments: one stripe
#   device per engine gets the same writes and reads, their backends end
#   up byte for byte equal and the traces list the same segments;
# - what the engine leaves to user space (a target with bublk_done, the
#   hostile target's bad answers) is served or refused there, per request;
# - a daemon killed with -9 is recovered by the kernel engine;
# - it is the default where it can serve the device (and the log says why,
#   for either engine), and its ring refuses opcodes and files bublk does
#   not use.
. "$(dirname "$0")/lib.sh"

out=$("$BUBLK" add -t null --size 64M --engine kernel 2>"$TMP/add.err") || {
	case "$(cat "$TMP/add.err")" in
	*io_uring_bpf_ops*) skip "the kernel has no io_uring_bpf_ops (Linux 7.1+): $(cat "$TMP/add.err")" ;;
	esac
	die "bublk add --engine kernel: $(cat "$TMP/add.err")"
}
grep -q "kernel engine (--engine kernel)" "$TMP/add.err" || die "add did not say which engine serves: $(cat "$TMP/add.err")"
id=${out#/dev/ublkb}

# stats -n ID --json -> "kernel_reqs parked reqs errors" (reqs: every op's)
stat_line() {
	"$BUBLK" stats -n "$1" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
e = s["engine"]
print(e["kernel_reqs"], e["parked"], sum(o["reqs"] for o in s["ops"].values()),
      sum(o["errors"] for o in s["ops"].values()))'
}
engine_of() {
	"$BUBLK" list --json | python3 -c '
import json, sys
print([d["engine"] for d in json.load(sys.stdin) if d["dev_id"] == int(sys.argv[1])][0])' "$1"
}

# --- null: all of it in the kernel -------------------------------------------
[ "$(engine_of "$id")" = kernel ] || die "null: list --json says engine $(engine_of "$id")"
must fio --name=null --filename=/dev/ublkb$id --rw=randrw --bs=4k --iodepth=32 --direct=1 \
	--ioengine=io_uring --size=64M --io_size=16M --output=/dev/null
read -r k parked reqs errs <<<"$(stat_line "$id")"
blk=$(awk '{ print $1 + $5 }' /sys/block/ublkb$id/stat)	# reads + writes the block layer completed
[ "$k" -ge "$blk" ] && [ "$k" = "$reqs" ] && [ "$errs" = 0 ] ||
	die "null: block layer completed $blk, engine committed $k of $reqs requests ($errs errors, $parked parked)"
[ "$parked" = 0 ] || die "null: $parked CQEs handed to user space, expected none"
must "$BUBLK" del -n "$id"

# --- the default where it can serve; its ring takes only what bublk uses ------
# (the test hook submits a NOP, not on the ring's list, and a read of a
# file that is not registered: the kernel refuses both with EACCES)
out=$(BUBLK_TEST_RING_RESTRICTED=1 "$BUBLK" add -t null --size 64M -q 1 2>"$TMP/add.err") ||
	die "bublk add (default engine): $(cat "$TMP/add.err")"
id=${out#/dev/ublkb}
grep -q "dev $id: kernel engine (the kernel has io_uring_bpf_ops" "$TMP/add.err" ||
	die "the default engine on this kernel is not the kernel one: $(cat "$TMP/add.err")"
grep -q "restricted ring: a NOP got -13, a read of an unregistered file -13" "$TMP/add.err" ||
	die "the kernel engine's ring is not restricted: $(grep -i restrict "$TMP/add.err" || cat "$TMP/add.err")"
[ "$(engine_of "$id")" = kernel ] || die "default: list --json says engine $(engine_of "$id")"
must "$BUBLK" del -n "$id"
out=$("$BUBLK" add -t null --size 64M --copy 2>"$TMP/add.err") || die "bublk add --copy: $(cat "$TMP/add.err")"
id=${out#/dev/ublkb}
grep -q "dev $id: user engine (it needs zero copy" "$TMP/add.err" ||
	die "a copy-mode device does not say why the user engine serves it: $(cat "$TMP/add.err")"
must "$BUBLK" del -n "$id"

# --- loop: data as the file holds it ----------------------------------------
img=$TMP/loop.img
head -c $((64 << 20)) /dev/urandom >"$img"
dd if=/dev/zero of="$img" bs=512 count=1 conv=notrunc status=none
id=$(add_dev -t loop -f "$img" --engine kernel)
fio_verify /dev/ublkb$id loop || { cat "$TMP/loop.out"; die "loop: fio verify failed"; }
head -c $((8 << 20)) /dev/urandom >"$TMP/pat"
must dd if="$TMP/pat" of=/dev/ublkb$id bs=1M seek=3 oflag=direct status=none
must blkdiscard -o $((32 << 20)) -l $((1 << 20)) /dev/ublkb$id
must sync	# a FLUSH
read -r k parked reqs errs <<<"$(stat_line "$id")"
[ "$k" -gt 0 ] && [ "$k" = "$reqs" ] && [ "$errs" = 0 ] ||
	die "loop: engine committed $k of $reqs requests ($errs errors, $parked parked)"
# the discard and the flush went through io_uring's workers: every task of
# the daemon can still be moved to another CPU (a worker forked inside
# loop_step could not, and taskset would hang: engine.c's iowq_spawn)
pid=$(dev_pid "$id")
(taskset -a -p -c 0 "$pid" >/dev/null && echo 1 >"$TMP/pinned") &
pinned() { cat "$TMP/pinned" 2>/dev/null; }
settles_to pinned 1 300 ||
	die "loop: taskset -a -p on the kernel engine's daemon did not return in 30 s (threads: $(cat /proc/"$pid"/task/*/comm | sort | uniq -c | tr '\n' ' '))"
must "$BUBLK" del -n "$id"
cmp <(dd if="$img" bs=1M skip=3 count=8 status=none) "$TMP/pat" ||
	die "loop: the file does not hold what was written through the kernel engine"
cmp <(dd if="$img" bs=1M skip=32 count=1 status=none) <(head -c $((1 << 20)) /dev/zero) ||
	die "loop: the discarded range does not read back as zeros"

# --- both engines, same segments ---------------------------------------------
head -c $((6 << 20)) /dev/urandom >"$TMP/pat6"
for e in user kernel; do
	files=""
	for i in 0 1 2; do
		truncate -s 8M "$TMP/$e$i.img"
		files="$files${files:+,}$TMP/$e$i.img"
	done
	id=$(add_dev -t stripe -f "$files" --chunk 64K --engine "$e")
	[ "$(engine_of "$id")" = "$e" ] || die "stripe: asked for --engine $e, list says $(engine_of "$id")"
	# unaligned to chunks: 12 KiB in, requests of 192 KiB (several segments each)
	must dd if="$TMP/pat6" of=/dev/ublkb$id bs=192k seek=12288 oflag=direct,seek_bytes \
		count=32 status=none
	must dd if=/dev/ublkb$id of="$TMP/back-$e" bs=48k skip=12288 iflag=direct,skip_bytes \
		count=16 status=none
	"$BUBLK" trace -n "$id" --json | python3 -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
for r in sorted(recs, key=lambda r: (r["op"], r["offset"], r["len"])):
    print(r["op"], r["offset"], r["len"], r["result"], r["nr_segs"],
          [(s["op"], s["stage"], s["backend"], s["offset"], s["len"]) for s in r["segs"]])' \
		>"$TMP/trace-$e" || die "stripe ($e): bublk trace --json"
	read -r k parked reqs errs <<<"$(stat_line "$id")"
	[ "$errs" = 0 ] || die "stripe ($e): $errs requests failed"
	if [ "$e" = kernel ]; then
		[ "$k" = "$reqs" ] || die "stripe: the kernel engine committed $k of $reqs requests"
	else
		[ "$k" = 0 ] || die "stripe: the user engine's device counts $k kernel-engine requests"
	fi
	must "$BUBLK" del -n "$id"
done
for i in 0 1 2; do
	cmp "$TMP/user$i.img" "$TMP/kernel$i.img" || die "stripe: backend $i differs between the engines"
done
cmp "$TMP/back-user" "$TMP/back-kernel" || die "stripe: the engines read back different data"
[ -s "$TMP/trace-user" ] || die "stripe: no trace records"
diff "$TMP/trace-user" "$TMP/trace-kernel" || die "stripe: the engines mapped the same requests differently"

# --- what the engine leaves to user space -------------------------------------
# mirror has bublk_done: its data requests are parked and served by the C runtime
for i in 0 1; do truncate -s 32M "$TMP/m$i.img"; done
id=$(add_dev -t mirror -f "$TMP/m0.img,$TMP/m1.img" --engine kernel)
fio_verify /dev/ublkb$id mirror || { cat "$TMP/mirror.out"; die "mirror: fio verify failed"; }
read -r k parked reqs errs <<<"$(stat_line "$id")"
[ "$parked" -gt 0 ] && [ "$errs" = 0 ] || die "mirror: $parked parked, $errs errors of $reqs"
must "$BUBLK" del -n "$id"
cmp "$TMP/m0.img" "$TMP/m1.img" || die "mirror: the legs differ"

# --- kill -9, recovered into the kernel engine ---------------------------------
id=$(add_dev -t loop -f "$img" --engine kernel --recovery)
pid=$(dev_pid "$id")
fio --name=rec --filename=/dev/ublkb$id --rw=randrw --bs=4k --iodepth=16 --direct=1 \
	--ioengine=io_uring --time_based --runtime=600 --output="$TMP/rec.out" &
fpid=$!
for _ in $(seq 100); do
	[ "$(awk '{ print $1 + $5 }' /sys/block/ublkb$id/stat)" -gt 200 ] && break
	sleep 0.1
done
kill -9 "$pid"
wait_gone "$pid" "the killed daemon"
must "$BUBLK" recover -n "$id" >/dev/null
[ "$(engine_of "$id")" = kernel ] || die "recover: engine $(engine_of "$id")"
before=$(awk '{ print $1 + $5 }' /sys/block/ublkb$id/stat)
for _ in $(seq 300); do
	[ "$(awk '{ print $1 + $5 }' /sys/block/ublkb$id/stat)" -gt $((before + 200)) ] && break
	sleep 0.1
done
kill "$fpid"
wait "$fpid"
grep -q "err= 0" "$TMP/rec.out" || { cat "$TMP/rec.out"; die "recover: fio saw errors"; }
read -r k parked reqs errs <<<"$(stat_line "$id")"
[ "$k" -gt 0 ] || die "recover: the new daemon served nothing in the kernel ($reqs requests)"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "kernel engine: null and loop served in the kernel, stripe mapped alike by both engines, mirror via user space, recovered after kill -9"
