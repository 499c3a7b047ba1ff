#!/bin/bash
# The shared-memory zero-copy test of the test module (selftests/kmod/
# t_shmem_zc.sh) against the kernel's own driver where it has
# UBLK_F_SHMEM_ZC (upstream 7.1+): the same data checks, without the
# scatter/gather hook only the test module has.
. "$(dirname "$0")/lib.sh"
need_feature SHMEM_ZC
rm -rf "$TMP"
trap - EXIT
exec bash "$(dirname "$0")/../kmod/t_shmem_zc.sh"
