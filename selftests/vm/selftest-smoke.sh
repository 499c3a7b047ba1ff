#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# selftest-smoke.sh - prove that the VM harness works.
#
# Run on the host as:  selftests/vm/run.sh selftests/vm/selftest-smoke.sh
# Inside the guest it checks the things every bublk VM test relies on.

set -u

fails=0

# check DESCRIPTION COMMAND [ARGS...]: run COMMAND, report ok/FAIL.
check() {
	desc=$1
	shift
	if "$@"; then
		echo "smoke: ok   $desc"
	else
		echo "smoke: FAIL $desc"
		fails=$((fails + 1))
	fi
}

fstype_is() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = "$2" ]; }

roundtrip() {
	f=build/vm/.smoke.$$
	mkdir -p build/vm && echo "hello $$" >"$f" &&
		[ "$(cat "$f")" = "hello $$" ] && rm -f "$f"
}

# Host binaries (dynamically linked, read from the 9p root) must run.
runs() { out=$("$@" 2>&1) && echo "       $(echo "$out" | head -n1)"; }

null_blk() {
	modprobe -d "${BUBLK_VM_MODROOT:?}" null_blk nr_devices=1 && [ -b /dev/nullb0 ] &&
		modprobe -d "$BUBLK_VM_MODROOT" -r null_blk
}

if [ "${BUBLK_IN_VM:-}" != 1 ]; then
	echo "smoke: must run inside the VM (use selftests/vm/run.sh)"
	exit 2
fi
echo "smoke: kernel $(uname -r), cwd $(pwd), $(nproc) CPUs"

check "/dev/ublk-control is a char device" test -c /dev/ublk-control
check "checkout is writable" roundtrip
check "/sys/fs/bpf is bpffs" fstype_is /sys/fs/bpf bpf_fs
check "/dev/hugepages is hugetlbfs" fstype_is /dev/hugepages hugetlbfs
check "nr_hugepages > 0" test "$(cat /proc/sys/vm/nr_hugepages)" -gt 0
check "/tmp is tmpfs" fstype_is /tmp tmpfs
check "fio --version" runs fio --version
check "bpftool version" runs bpftool version
check "modprobe null_blk" null_blk

echo "smoke: uname -r: $(uname -r)"
if [ "$fails" -ne 0 ]; then
	echo "smoke: $fails check(s) failed"
	exit 1
fi
echo "smoke: all checks passed"
