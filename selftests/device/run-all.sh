#!/bin/bash
# Run device tests inside the VM: each t_*.sh (or those named) prints
# "ok NAME" or "not ok NAME"; a failing test's output follows it.
cd "$(dirname "$0")/../.." || exit 1
logdir=build/test-logs
mkdir -p "$logdir"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(selftests/device/t_*.sh)
failed=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	start=$(date +%s.%N)
	if timeout "${BUBLK_TEST_TIMEOUT:-300}" bash "$t" >"$logdir/$name.log" 2>&1; then
		echo "ok $name ($(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1fs", e-s}')): $(tail -1 "$logdir/$name.log")"
	else
		echo "not ok $name"
		sed 's/^/    /' "$logdir/$name.log" | tail -40
		failed=$((failed + 1))
	fi
done
exit $((failed > 0))
