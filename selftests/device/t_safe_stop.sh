#!/bin/bash
# bublk del of an open device (UBLK_F_SAFE_STOP_DEV: TRY_STOP_DEV) is
# refused and the device keeps serving; once closed, del works; --force
# deletes an open device as before.
. "$(dirname "$0")/lib.sh"

need_feature SAFE_STOP_DEV

img=$TMP/disk.img
head -c $((4 << 20)) /dev/urandom >"$img"
truncate -s 32M "$img"
want=$(head -c $((4 << 20)) "$img" | md5sum)
id=$(add_dev -t loop -f "$img")
dev=/dev/ublkb$id

# a plain (not exclusive) open: only the kernel's opener count sees it
exec 3<"$dev"
out=$("$BUBLK" del -n "$id" 2>&1) && die "del of an open device succeeded"
echo "$out" | grep -q "in use (mounted or held open).*--force" || die "del of an open device said: $out"
got=$(dd if="$dev" bs=1M count=4 iflag=direct 2>/dev/null | md5sum)
[ "$got" = "$want" ] || die "the device does not serve its data after a refused del"
[ -e "/run/bublk/$id.json" ] || die "the refused del removed the state file"
exec 3<&-
must "$BUBLK" del -n "$id"
assert_no_devices

# --force: today's behaviour, the open device goes
id=$(add_dev -t loop -f "$img")
exec 3<"/dev/ublkb$id"
must "$BUBLK" del -n "$id" --force
exec 3<&-
assert_no_devices
echo "safe stop: del of an open device refused and it kept serving; del after close and del --force work"
