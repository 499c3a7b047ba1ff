#!/bin/bash
# SPDX-License-Identifier: MIT
# Tests of the test ublk module (selftests/kmod), inside the VM booted with
# BUBLK_VM_UBLK_KO=build/kmod/ublk_drv.ko (selftests/run.sh does that).
# Prints "ok kmod/NAME" or "not ok kmod/NAME"; exit status 1 if any failed.
# BUBLK_KMOD_REGRESS: device tests also run against the module
# (default "t_null t_loop_modes"; empty for none).
cd "$(dirname "$0")/../.." || exit 1
failed=0
say() {
	echo "$1 kmod/$2"
	[ "$1" = ok ] || failed=$((failed + 1))
}

# the driver in the VM must be ours, with its struct_ops type in its BTF
if bpftool btf dump file /sys/kernel/btf/ublk_drv 2>/dev/null | grep -q "STRUCT 'bublk_sg_ops'"; then
	say ok module_is_bublk_build
else
	say "not ok" module_is_bublk_build
fi

dmesg -c >/dev/null
# two 2 MiB pages for shmem_test's hugetlb memfd
echo 2 >/proc/sys/vm/nr_hugepages
prog=build/selftests/kmod/shmem_test
if [ -x "$prog" ]; then
	out=$(timeout 120 "$prog" build/bpf/sg_hook.bpf.o 2>&1)
	rc=$?
	echo "$out" | sed -E 's/^(ok|not ok) /\1 kmod\//'
	echo "$out" | grep -q '^not ok' && failed=$((failed + 1))
	if [ $rc -ne 0 ] && ! echo "$out" | grep -q '^not ok'; then
		say "not ok" "shmem_test (status $rc)"
	fi
else
	say "not ok" "shmem_test (not built: make $prog)"
fi

# a crashed shmem_test leaves devices behind: clear them for what follows
for c in /dev/ublkc*; do
	[ -e "$c" ] || continue
	say "not ok" "left_device_${c#/dev/}"
	build/bublk del -n "${c#/dev/ublkc}" --force >/dev/null 2>&1
done

# bublk's own SHMEM_ZC path (selftests/kmod/t_*.sh)
for t in selftests/kmod/t_*.sh; do
	bash selftests/device/run-all.sh "$t" 2>&1 | sed -E 's/^(ok|not ok) /\1 kmod\//'
	[ "${PIPESTATUS[0]}" = 0 ] || failed=$((failed + 1))
done

# the patched driver still serves bublk's normal paths (copy and user copy)
for t in ${BUBLK_KMOD_REGRESS-t_null t_loop_modes}; do
	bash selftests/device/run-all.sh "selftests/device/$t.sh" 2>&1 |
		sed -E 's/^(ok|not ok) /\1 kmod\/regress\//'
	[ "${PIPESTATUS[0]}" = 0 ] || failed=$((failed + 1))
done

# no kernel complaint while registering, serving and tearing down
bad=$(dmesg | grep -E 'BUG|WARNING|Oops|general protection|refcount_t|leak' || true)
if [ -z "$bad" ]; then
	say ok dmesg_clean
else
	say "not ok" dmesg_clean
	echo "$bad" | sed 's/^/    /' | head -20
fi
exit $((failed > 0))
