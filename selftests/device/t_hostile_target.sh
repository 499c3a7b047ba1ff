#!/bin/bash
# a target that emits out-of-range segments: exactly those requests fail
# with EIO, nothing past the backend is touched, the daemon keeps serving.
. "$(dirname "$0")/lib.sh"

img=$TMP/disk.img
head -c $((2 << 20)) /dev/urandom > "$img"
cp "$img" "$TMP/orig"
id=$(add_dev -t build/selftests/targets/bad_range.bpf.o -f "$img" --size 2M)
dev=/dev/ublkb$id
dd if="$dev" of=/dev/null bs=4k skip=256 count=1 iflag=direct status=none 2>"$TMP/err" \
	&& die "read past the bad mapping succeeded"
grep -q "Input/output error" "$TMP/err" || die "expected EIO, got: $(cat "$TMP/err")"
dd if=/dev/zero of="$dev" bs=4k seek=300 count=1 oflag=direct status=none 2>/dev/null \
	&& die "write past the bad mapping succeeded"
# the daemon still serves good requests
cmp <(dd if="$dev" bs=4k count=64 iflag=direct status=none) <(head -c $((256 << 10)) "$TMP/orig") \
	|| die "good reads after refused ones returned wrong data"
pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' /run/bublk/$id.json)
kill -0 "$pid" || die "daemon died"
grep -q "backend_range" /run/bublk/$id.log || die "refusal not logged: $(cat /run/bublk/$id.log)"
must "$BUBLK" del -n "$id"
[ "$(stat -c %s "$img")" = $((2 << 20)) ] || die "backing file grew: written past its end"
cmp "$img" "$TMP/orig" || die "backing file changed"
assert_no_devices
echo "out-of-range segments refused with EIO (logged as backend_range); good I/O kept working"
