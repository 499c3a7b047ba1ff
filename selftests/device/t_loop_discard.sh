#!/bin/bash
# loop target: DISCARD punches holes in the backing file, WRITE_ZEROES zeroes,
# both read back as zeros, and the device served both ops itself (the
# kernel's fallback of writing zero pages would hide a failing WRITE_ZEROES).
. "$(dirname "$0")/lib.sh"

img=$TMP/disk.img
head -c $((16 << 20)) /dev/urandom > "$img"
id=$(add_dev -t loop -f "$img")
dev=/dev/ublkb$id
before=$(stat -c %b "$img")
must blkdiscard -o $((4 << 20)) -l $((4 << 20)) "$dev"
must blkdiscard -z -o $((12 << 20)) -l $((1 << 20)) "$dev"
cmp -n $((4 << 20)) <(dd if="$dev" bs=1M skip=4 count=4 iflag=direct status=none) /dev/zero \
	|| die "discarded range does not read as zeros"
cmp -n $((1 << 20)) <(dd if="$dev" bs=1M skip=12 count=1 iflag=direct status=none) /dev/zero \
	|| die "write-zeroes range does not read as zeros"
"$BUBLK" stats -n "$id" --json | python3 -c "
import json, sys
o = json.load(sys.stdin)['ops']
for op in ('discard', 'write_zeroes'):
    assert o[op]['reqs'] > 0 and o[op]['errors'] == 0, (op, o[op])
" || die "the device did not serve DISCARD and WRITE_ZEROES itself: $("$BUBLK" stats -n "$id")"
must "$BUBLK" del -n "$id"
after=$(stat -c %b "$img")
# 4 MiB punched = 8192 sectors fewer allocated
[ $((before - after)) -ge 8192 ] || die "backing file blocks $before -> $after: no hole punched"
cmp -n $((4 << 20)) <(dd if="$img" bs=1M skip=4 count=4 status=none) /dev/zero \
	|| die "backing file not zero in the discarded range"
assert_no_devices
echo "discard punched $(((before - after) / 2048)) MiB of holes; write-zeroes reads zeros"
