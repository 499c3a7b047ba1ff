#!/bin/bash
# linear target: backends of different sizes concatenated; fio verify
# across the boundaries, then every byte is in the backend the
# concatenation says, and the unusable tail of a backend is untouched.
. "$(dirname "$0")/lib.sh"

truncate -s 8M "$TMP/a.img"
truncate -s $(((12 << 20) + 1000)) "$TMP/b.img"	# 12M usable, 1000 bytes unused
truncate -s 4M "$TMP/c.img"
id=$(add_dev -t linear -f "$TMP/a.img,$TMP/b.img,$TMP/c.img" -q 2 -d 32)
dev=/dev/ublkb$id
size=$(blockdev --getsize64 "$dev")
[ "$size" = $((24 << 20)) ] || die "size $size, expected 24 MiB (8M + 12M + 4M)"
must fio --name=linear --filename="$dev" --rw=randwrite --bsrange=4k-512k --iodepth=16 --direct=1 \
	--ioengine=io_uring --io_size=24M --verify=crc32c --verify_state_save=0 --do_verify=1 \
	--verify_fatal=1 --output="$TMP/fio.out"
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio errors"; }

# a pattern over the whole device, in 1M writes that straddle both boundaries
head -c $((24 << 20)) /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=1M oflag=direct status=none
cmp <(dd if="$dev" bs=1M iflag=direct status=none) "$TMP/pat" || die "read back differs"
must "$BUBLK" del -n "$id"
pieces=$(python3 "$(dirname "$0")/layout.py" linear "$TMP/pat" 0 $((24 << 20)) \
	"$TMP/a.img" "$TMP/b.img" "$TMP/c.img") || die "linear layout wrong"
[ "$(tail -c 1000 "$TMP/b.img" | tr -d '\0' | wc -c)" = 0 ] || die "b's unusable tail was written"
assert_no_devices
echo "fio verify passed; $pieces backends hold device bytes at 0, 8M, 20M; b's 1000-byte tail untouched"
