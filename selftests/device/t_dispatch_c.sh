#!/bin/bash
# --dispatch=c: the C twins serve real devices like the BPF targets do
# (loop lands data at the same offsets, stripe deals chunks to the same
# files), the state says which dispatcher runs, and a target without a C
# twin is refused before a device exists.
. "$(dirname "$0")/lib.sh"

img=$TMP/disk.img
truncate -s 16M "$img"
id=$(add_dev -t loop -f "$img" --dispatch=c)
dev=/dev/ublkb$id
grep -q '"dispatch": "c"' "/run/bublk/$id.json" || die "state does not say dispatch c"
head -c $((1 << 20)) /dev/urandom >"$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=64k seek=33 oflag=direct conv=notrunc status=none
cmp <(dd if="$dev" bs=64k skip=33 count=16 iflag=direct status=none) "$TMP/pat" ||
	die "loop --dispatch=c: device does not read back what was written"
must "$BUBLK" del -n "$id"
cmp <(dd if="$img" bs=64k skip=33 count=16 status=none) "$TMP/pat" ||
	die "loop --dispatch=c: backing file does not hold the data at the written offset"

# stripe, 2 x 8 MiB, 64K chunks: device chunk 3 is file 1's second chunk
for i in 0 1; do truncate -s 8M "$TMP/s$i.img"; done
id=$(add_dev -t stripe -f "$TMP/s0.img,$TMP/s1.img" --chunk 64K --dispatch=c)
must dd if="$TMP/pat" of="/dev/ublkb$id" bs=64k seek=3 count=1 oflag=direct conv=notrunc status=none
must "$BUBLK" del -n "$id"
cmp <(dd if="$TMP/s1.img" bs=64k skip=1 count=1 status=none) <(head -c 65536 "$TMP/pat") ||
	die "stripe --dispatch=c: chunk 3 is not file 1's second chunk"

out=$("$BUBLK" add -t build/selftests/targets/bad_range.bpf.o -f "$img" --size 2M --dispatch=c 2>&1) &&
	die "a target without a C twin was accepted: $out"
case "$out" in
*"no C mapping"*) ;;
*) die "refusal does not say why: $out" ;;
esac
assert_no_devices
echo "loop and stripe served by their C twins; unknown targets refused"
