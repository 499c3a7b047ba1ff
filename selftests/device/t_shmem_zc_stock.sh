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
rm -rf "$TMP"
trap - EXIT
exec bash "$(dirname "$0")/../kmod/t_shmem_zc.sh"
