#!/bin/bash
# stripe target: fio verify, then the layout on the backing files is what
# the target says: chunk c on backend c % N at offset (c / N) * chunk.
. "$(dirname "$0")/lib.sh"

N=4
CHUNK=$((64 << 10))
files=""
for i in $(seq 0 $((N - 1))); do
	truncate -s 16M "$TMP/leg$i.img"
	files="$files${files:+,}$TMP/leg$i.img"
done
id=$(add_dev -t stripe -f "$files" --chunk 64K -q 2 -d 32)
dev=/dev/ublkb$id
[ "$(blockdev --getsize64 "$dev")" = $((N * 16 << 20)) ] || die "size $(blockdev --getsize64 "$dev"), expected $((N * 16)) MiB"
must fio --name=stripe --filename="$dev" --rw=randwrite --bsrange=4k-512k --iodepth=16 --direct=1 \
	--ioengine=io_uring --size=64M --io_size=32M --verify=crc32c --verify_state_save=0 --do_verify=1 --verify_fatal=1 \
	--output="$TMP/fio.out"
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio errors"; }

# a known pattern over the first 8 MiB, written unaligned to chunks (offset 4K)
head -c $((8 << 20)) /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=4k seek=1 oflag=direct status=none
must "$BUBLK" del -n "$id"
# device bytes [4K, 4K + 8M) == pat: every piece on backend c % N at (c / N) * chunk
img=$TMP/device-view
dd if=/dev/zero of="$img" bs=4k count=1 status=none
cat "$TMP/pat" >> "$img"
pieces=$(python3 "$(dirname "$0")/layout.py" stripe "$img" $CHUNK 4096 $((4096 + (8 << 20))) \
	"$TMP"/leg0.img "$TMP"/leg1.img "$TMP"/leg2.img "$TMP"/leg3.img) || die "stripe layout wrong"
assert_no_devices
echo "fio verify passed; $pieces chunk pieces found on backend c%$N at (c/$N)*64K"
