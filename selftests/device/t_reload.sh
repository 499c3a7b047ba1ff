#!/bin/bash
# bublk reload: swap stripe (chunk 64K) for a build with different code
# while fio verify runs: no I/O error, the new code serves (its own
# counter moves), options and counters carry over, the layout is intact.
# Broken or foreign objects are refused and I/O goes on.
. "$(dirname "$0")/lib.sh"

files=""
for i in 0 1 2 3; do truncate -s 16M "$TMP/leg$i.img"; files="$files${files:+,}$TMP/leg$i.img"; done
id=$(add_dev -t stripe -f "$files" --chunk 64K -q 2 -d 32)
dev=/dev/ublkb$id
pins=/sys/fs/bpf/bublk/$id
fio --name=reload --filename=$dev --rw=randwrite --bsrange=4k-256k --iodepth=16 --direct=1 \
	--ioengine=io_uring --io_size=64M --verify=crc32c --verify_state_save=0 --do_verify=1 \
	--verify_fatal=1 --output="$TMP/fio.out" &
fio_pid=$!
# under way: 64 writes done (64M of I/O is thousands more)
writes() { awk '{ print ($5 >= 64) }' /sys/block/ublkb$id/stat; }
settles_to writes 1 600 || die "fio did not get going on $dev"
kill -0 $fio_pid 2>/dev/null || die "fio ended before the reload"

# refused: not an object, another target; the old one keeps serving
echo junk > "$TMP/junk.bpf.o"
"$BUBLK" reload -n "$id" "$TMP/junk.bpf.o" 2>"$TMP/err" && die "a junk object was accepted"
grep -q "not a loadable BPF object" "$TMP/err" || die "junk refused with: $(cat "$TMP/err")"
"$BUBLK" reload -n "$id" mirror 2>"$TMP/err" && die "a mirror object was accepted on a stripe device"
grep -q 'this device runs "stripe"' "$TMP/err" || die "mirror refused with: $(cat "$TMP/err")"

must "$BUBLK" reload -n "$id" "$PWD/build/selftests/targets/stripe_alt.bpf.o" >/dev/null
kill -0 $fio_pid 2>/dev/null || die "fio ended before the reload took effect; make the run longer"
wait $fio_pid || { cat "$TMP/fio.out"; die "fio failed across the reload"; }
grep -q "err= 0" "$TMP/fio.out" || die "fio saw errors"

n=$(bpftool map lookup pinned "$pins/stripe_alt_reqs" key 0 0 0 0 | grep -o '"value": [0-9]*' | grep -o '[0-9]*$')
[ "${n:-0}" -gt 0 ] || die "the reloaded code never ran (stripe_alt_reqs = $n)"
bpftool map dump pinned "$pins/bublk_config" | grep -q '"chunk": 65536' || die "chunk option lost in the reload"
"$BUBLK" stats -n "$id" --json > "$TMP/stats.json"
python3 -c "import json; s=json.load(open('$TMP/stats.json')); o=s['ops']; assert s['reloads']==1 and o['write']['reqs'] + o['read']['reqs'] > $n, s" ||
	die "counters did not carry over: $(cat "$TMP/stats.json")"
# (the kernel engine's device runs the object's NAME.kern.o twin)
"$BUBLK" list --json | grep -q 'stripe_alt\.\(bpf\|kern\)\.o' || die "list does not show the reloaded object"

# the layout is still stripe's
head -c 4M /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of=$dev bs=1M oflag=direct status=none
must "$BUBLK" del -n "$id"
python3 "$(dirname "$0")/layout.py" stripe "$TMP/pat" 65536 0 $((4 << 20)) \
	"$TMP"/leg0.img "$TMP"/leg1.img "$TMP"/leg2.img "$TMP"/leg3.img >/dev/null || die "layout changed"
assert_no_devices
echo "reloaded under fio verify: no errors, new code served $n requests, chunk and counters kept; junk and mirror refused"
