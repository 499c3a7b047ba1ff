#!/bin/bash
# A backend that runs out of space: the loop device's backing file is a
# 16M sparse file on a 4M tmpfs. Writes that need new space fail with
# ENOSPC, exactly those; data written before reads back, overwriting
# already allocated blocks still works, the daemon keeps serving, and its
# stats count the failed requests.
. "$(dirname "$0")/lib.sh"

small=$TMP/small
mkdir -p "$small"
must mount -t tmpfs -o size=4M tmpfs "$small"
# the daemon holds the backing file: delete devices before unmounting
trap '"$BUBLK" del -a --force >/dev/null 2>&1; umount "$small" 2>/dev/null; cleanup' EXIT
truncate -s 16M "$small/disk.img"
id=$(add_dev -t loop -f "$small/disk.img")
dev=/dev/ublkb$id
pid=$(dev_pid "$id")

# 72 writes of 64K (4.5M), each with its own data: 60 that surely fit in
# one go, then one request per dd across the point where space runs out
# (dd is slow to start under TCG)
head -c $((72 << 16)) /dev/urandom > "$TMP/data"
must dd if="$TMP/data" of="$dev" bs=64k count=60 oflag=direct status=none
ok=60
failed=0
for i in $(seq 60 71); do
	if dd if="$TMP/data" of="$dev" bs=64k skip="$i" seek="$i" count=1 oflag=direct \
		status=none 2>"$TMP/err"; then
		[ "$failed" = 0 ] || die "write $i succeeded after an earlier one ran out of space"
		ok=$((ok + 1))
	else
		grep -q "No space left on device" "$TMP/err" || die "write $i: expected ENOSPC, got: $(cat "$TMP/err")"
		failed=$((failed + 1))
	fi
done
# 4M of space holds 64 blocks of 64K (a block or two may go to the boundary)
[ "$ok" -ge 62 ] && [ "$ok" -le 64 ] || die "$ok writes succeeded, expected about 64 (4M of space)"
kill -0 "$pid" || die "daemon died"
# everything written before the space ran out reads back
cmp <(dd if="$dev" bs=64k count="$ok" iflag=direct status=none) <(head -c $((ok * 65536)) "$TMP/data") \
	|| die "data written before ENOSPC does not read back"
# allocated blocks can still be overwritten
head -c 65536 /dev/urandom > "$TMP/new"
must dd if="$TMP/new" of="$dev" bs=64k seek=5 count=1 oflag=direct status=none
cmp <(dd if="$dev" bs=64k skip=5 count=1 iflag=direct status=none) "$TMP/new" || die "overwrite lost"
# freeing space on the backend (discard punches holes) makes writes work again
must blkdiscard -o $((1 << 20)) -l $((1 << 20)) "$dev"
must dd if="$TMP/data" of="$dev" bs=64k skip=70 seek=70 count=1 oflag=direct status=none
cmp <(dd if="$dev" bs=64k skip=70 count=1 iflag=direct status=none) \
	<(dd if="$TMP/data" bs=64k skip=70 count=1 status=none) || die "write after freeing space lost"
must "$BUBLK" del -n "$id"
stats=$(grep "stats:" /run/bublk/$id.log | tail -1)
case "$stats" in
*" errors=$failed "*) ;;
*) die "daemon stats should count $failed failed requests: $stats" ;;
esac
assert_no_devices
echo "$ok writes fit, $failed failed with ENOSPC (counted: errors=$failed); data intact, daemon kept serving"
