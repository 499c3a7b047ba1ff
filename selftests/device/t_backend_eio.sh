#!/bin/bash
# A backend that returns EIO: the loop device's backing device is a
# null_blk disk whose sectors 8192-10239 (bytes 4M-5M) are marked bad.
# Reads of exactly those blocks fail with EIO, every other read returns
# the data, the daemon keeps serving and counts the failed requests.
# A write into the bad range fails too: the runtime drives block-device
# backends with O_DIRECT, so the write itself gets the error (with buffered
# I/O it would surface at the next flush); either way write + fsync must
# fail, never succeed. (The fault target injects errors per request; this
# test needs a device that really fails.)
. "$(dirname "$0")/lib.sh"

need_module null_blk
mountpoint -q /sys/kernel/config || must mount -t configfs configfs /sys/kernel/config
nb=/sys/kernel/config/nullb/bublkbad
must mkdir "$nb"
trap '"$BUBLK" del -a --force >/dev/null 2>&1; echo 0 > "$nb/power" 2>/dev/null; rmdir "$nb" 2>/dev/null; cleanup' EXIT
echo 16 > "$nb/size"		# MiB
echo 1 > "$nb/memory_backed"
echo 1 > "$nb/power"
# the disk is named after the configfs directory on recent kernels
backing=/dev/bublkbad
[ -b "$backing" ] || backing=/dev/nullb$(cat "$nb/index")
[ -b "$backing" ] || die "null_blk device did not appear ($(ls /dev | grep -E 'null|bublk' | tr '\n' ' '))"
head -c $((16 << 20)) /dev/urandom > "$TMP/data"
must dd if="$TMP/data" of="$backing" bs=1M oflag=direct status=none
echo "+8192-10239" > "$nb/badblocks" || die "null_blk has no badblocks support"
echo 3 > /proc/sys/vm/drop_caches

id=$(add_dev -t loop -f "$backing")
dev=/dev/ublkb$id
pid=$(dev_pid "$id")
errors=0
# 64K blocks: 48-63 good, 64-79 bad (4M-5M), 80+ good
for blk in 60 64 70 79 80; do
	if dd if="$dev" of="$TMP/got" bs=64k skip="$blk" count=1 iflag=direct status=none 2>"$TMP/err"; then
		[ "$blk" -lt 64 ] || [ "$blk" -gt 79 ] || die "read of bad block $blk succeeded"
		cmp "$TMP/got" <(dd if="$TMP/data" bs=64k skip="$blk" count=1 status=none) \
			|| die "good block $blk read back wrong data"
	else
		[ "$blk" -ge 64 ] && [ "$blk" -le 79 ] || die "read of good block $blk failed: $(cat "$TMP/err")"
		grep -q "Input/output error" "$TMP/err" || die "block $blk: expected EIO, got: $(cat "$TMP/err")"
		errors=$((errors + 1))
	fi
done
[ "$errors" = 3 ] || die "$errors reads failed, expected the 3 in the bad range"
# a write into the bad range: the write (or its flush) must report the loss
dd if=/dev/zero of="$dev" bs=64k seek=70 count=1 oflag=direct conv=fsync status=none 2>"$TMP/err" \
	&& die "write + fsync into the bad range succeeded: the backend's error was lost"
errors=$((errors + 1))
kill -0 "$pid" 2>/dev/null || die "daemon died"
# still serving: good reads and writes after the failures
head -c 65536 /dev/urandom > "$TMP/new"
must dd if="$TMP/new" of="$dev" bs=64k seek=10 count=1 oflag=direct conv=fsync status=none
cmp <(dd if="$dev" bs=64k skip=10 count=1 iflag=direct status=none) "$TMP/new" || die "good write lost"
must "$BUBLK" del -n "$id"
stats=$(grep "stats:" /run/bublk/$id.log | tail -1)
case "$stats" in
*" errors=$errors "*) ;;
*) die "daemon stats should count $errors failed requests (3 reads, the bad write): $stats" ;;
esac
assert_no_devices
echo "EIO from the backend failed exactly the 3 bad reads and the bad write (counted: errors=$errors); good I/O kept working"
