#!/bin/bash
# bublk's test runner: host tests, then device tests (inside the VM when
# this machine has no /dev/ublk-control). Every test prints "ok NAME" or
# "not ok NAME"; the last line is "N passed, N failed".
#
#   selftests/run.sh            everything
#   BUBLK_TEST_VM=0 ...         host tests only
#   selftests/run.sh t_null     only the named device tests (host tests still run)
#   selftests/run.sh kmod       only the test ublk module's tests (VM)
#   BUBLK_O=build-san BUBLK_SAN=1 ...   the sanitized build (make test SAN=1)
#   BUBLK_FUZZ=0 ...            no fuzzing pass
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
results=$(mktemp)
trap 'rm -f "$results"' EXIT

# count "ok"/"not ok" lines from a test's output, echoing them
tally() {
	local line
	while IFS= read -r line; do
		echo "$line"
		case "$line" in
		"ok "*) echo ok >>"$results" ;;
		"not ok "*) echo fail >>"$results" ;;
		esac
	done
}

section() { printf '\n== %s\n' "$*"; }

O=${BUBLK_O:-build}	# the build under test (build-san: make test SAN=1)

# a host test program: its lines, plus a failure if it died without saying so
# (a sanitizer abort, a crash)
host_prog() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out" | tally
	if [ $rc -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
		echo "not ok $name (exit status $rc)" | tally
	fi
}

section "host unit tests${BUBLK_SAN:+ (ASan+UBSan build $O)}"
host_prog unit "./$O/selftests/unit"
section "host BPF: every target loads on $(uname -r) and maps synthetic requests"
host_prog bpf_targets "./$O/selftests/bpf_targets" "$O/bpf"
section "host BPF: the C twins (--dispatch=c) answer exactly like the BPF targets"
host_prog cmap "./$O/selftests/cmap" "$O/bpf"
if [ -z "${BUBLK_SAN:-}" ]; then
	section "host: make install, pkg-config, the example built from installed headers"
	bash selftests/host/t_install.sh 2>&1 | tally
	bash selftests/host/t_no_ublk.sh 2>&1 | tally
fi

if [ "${BUBLK_FUZZ:-1}" != 0 ]; then
	section "fuzzing, short pass (${FUZZ_SHORT:-5}s each; make fuzz runs longer)"
	FUZZ_TIME=${FUZZ_SHORT:-5} O=$O bash selftests/fuzz/run.sh 2>&1 | tally
fi

# "kmod" names the test ublk module's tests; other names are device tests
device_tests=()
run_kmod=$(($# == 0))
for t in "$@"; do
	if [ "$t" = kmod ]; then
		run_kmod=1
	else
		device_tests+=("selftests/device/$t.sh")
	fi
done
run_device=$(($# == 0 || ${#device_tests[@]} > 0))

if [ "${BUBLK_TEST_VM:-1}" = 0 ]; then
	section "device tests skipped (BUBLK_TEST_VM=0)"
elif [ "$run_device" = 0 ]; then
	:
elif [ -e /dev/ublk-control ]; then
	section "device tests on this machine ($(uname -r))"
	bash selftests/device/run-all.sh "${device_tests[@]}" 2>&1 | tally
else
	section "device tests in the VM (this machine has no ublk driver)"
	vmout=$(mktemp)
	bash selftests/vm/run.sh selftests/device/run-all.sh "${device_tests[@]}" >"$vmout" 2>&1
	rc=$?
	grep -aE '^(ok|not ok|    |vm:)' "$vmout" | tally
	if [ $rc -ne 0 ] && ! grep -aq '^not ok' "$vmout"; then
		# the VM itself failed: never a silent pass
		tail -30 "$vmout"
		echo "not ok vm (status $rc; see build/vm/console-run-all.log)" | tally
	fi
	rm -f "$vmout"
fi

# The test ublk module (selftests/kmod): SHMEM_ZC and the sg hook need the
# patched driver, so always a VM booted with it.  Building it is part of
# the test: a module that does not build fails, it is never skipped.
if [ "${BUBLK_TEST_VM:-1}" != 0 ] && [ "$run_kmod" = 1 ]; then
	section "test ublk module (SHMEM_ZC, sg hook) in the VM"
	kout=$(mktemp)
	if ko=$(bash selftests/kmod/build.sh --print 2>"$kout"); then
		echo "ok kmod/build" | tally
		BUBLK_VM_UBLK_KO=$ko bash selftests/vm/run.sh selftests/kmod/vm-tests.sh >"$kout" 2>&1
		rc=$?
		grep -aE '^(ok|not ok|    |vm:)' "$kout" | tally
		if [ $rc -ne 0 ] && ! grep -aq '^not ok' "$kout"; then
			tail -30 "$kout"
			echo "not ok kmod/vm (status $rc; see build/vm/console-vm-tests.log)" | tally
		fi
	else
		tail -30 "$kout"
		echo "not ok kmod/build (selftests/kmod/build.sh)" | tally
	fi
	rm -f "$kout"
fi

passed=$(grep -c '^ok' "$results")
failed=$(grep -c '^fail' "$results")
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
