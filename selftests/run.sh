#!/bin/bash
# bublk's test runner: host tests, then device tests (inside the VM when
# this machine has no /dev/ublk-control). Every test prints "ok NAME" or
# "not ok NAME"; the last line is "N passed, N failed".
#
#   selftests/run.sh            everything
#   BUBLK_TEST_VM=0 ...         host tests only
#   selftests/run.sh t_null     only the named device tests (host tests still run)
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

section "host unit tests"
./build/selftests/unit 2>&1 | tally
section "host BPF: every target loads on $(uname -r) and maps synthetic requests"
./build/selftests/bpf_targets build/bpf 2>&1 | tally
section "host BPF: the C twins (--dispatch=c) answer exactly like the BPF targets"
./build/selftests/cmap build/bpf 2>&1 | tally

device_tests=()
for t in "$@"; do device_tests+=("selftests/device/$t.sh"); done

if [ "${BUBLK_TEST_VM:-1}" = 0 ]; then
	section "device tests skipped (BUBLK_TEST_VM=0)"
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

passed=$(grep -c '^ok' "$results")
failed=$(grep -c '^fail' "$results")
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
