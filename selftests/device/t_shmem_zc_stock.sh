#!/bin/bash
# The shared-memory zero-copy test of the test module (selftests/kmod/
# t_shmem_zc.sh) against the kernel's own driver where it has
# UBLK_F_SHMEM_ZC (upstream 7.1+): the same data checks, without the
# scatter/gather hook only the test module has.
. "$(dirname "$0")/lib.sh"
need_feature SHMEM_ZC
# registrations do not survive a daemon: --shmem-zc with --recovery is
# refused (docs/shared-memory.md), with its reason and no device left
truncate -s 8M "$TMP/r.img"
if "$BUBLK" add -t loop -f "$TMP/r.img" --shmem-zc --recovery >"$TMP/r.out" 2>&1; then
	die "--shmem-zc --recovery was accepted: $(cat "$TMP/r.out")"
fi
grep -q "cannot take over the old one's registrations" "$TMP/r.out" ||
	die "--shmem-zc --recovery refused without its reason: $(cat "$TMP/r.out")"
assert_no_devices

# beside shared memory, the other requests take the fastest mode the kernel
# grants: zero copy where it has AUTO_BUF_REG (7.3), asked for or by default;
# their data goes both ways intact (ordinary buffers never match)
if "$BUBLK" features | awk '{ print $2 }' | grep -qx AUTO_BUF_REG; then
	mode_of() {	# id -> data_mode in list --json
		"$BUBLK" list --json | python3 -c "import json, sys
print([d['data_mode'] for d in json.load(sys.stdin) if d['dev_id'] == $1][0])"
	}
	head -c 4M /dev/urandom >"$TMP/pattern"
	for how in "" --zero-copy; do
		truncate -s 8M "$TMP/z.img"
		id=$(add_dev -t loop -f "$TMP/z.img" --shmem-zc $how)
		[ "$(mode_of "$id")" = zero_copy ] ||
			die "--shmem-zc $how: data mode $(mode_of "$id"), not zero_copy"
		must dd if="$TMP/pattern" of=/dev/ublkb$id bs=64K oflag=direct status=none
		cmp -n 4194304 "$TMP/pattern" "$TMP/z.img" || die "--shmem-zc $how: the backing file differs from what was written"
		cmp -n 4194304 "$TMP/pattern" <(dd if=/dev/ublkb$id bs=64K count=64 iflag=direct status=none) ||
			die "--shmem-zc $how: read back differs"
		must "$BUBLK" del -n "$id"
	done
	echo "zero copy beside shared memory: default and --zero-copy, 4M written and read back"
fi
rm -rf "$TMP"
trap - EXIT
exec bash "$(dirname "$0")/../kmod/t_shmem_zc.sh"
