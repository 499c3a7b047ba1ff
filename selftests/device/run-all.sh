#!/bin/bash
# Run device tests inside the VM: each t_*.sh (or those named) prints
# "ok NAME [KERNEL]", "not ok NAME [KERNEL]" (its output follows) or
# "skip NAME [KERNEL]: why" (a test exits 77 when the kernel lacks a
# feature it needs; lib.sh: need_feature).
cd "$(dirname "$0")/../.." || exit 1
# one directory per kernel: the suites of two kernels may run at once
logdir=build/test-logs/$(uname -r)
mkdir -p "$logdir"
tests=("$@")
if [ ${#tests[@]} = 0 ]; then
	# the whole suite, minus BUBLK_SKIP_TESTS (run.sh: tests that run on
	# another kernel of the same make test)
	for t in selftests/device/t_*.sh; do
		[[ " ${BUBLK_SKIP_TESTS:-} " == *" $(basename "$t" .sh) "* ]] || tests+=("$t")
	done
fi
failed=0
kernel=$(uname -r)
# sanitized build: reports go to files, a test with any report fails
san=/tmp/bublk-san
if [ "${BUBLK_SAN:-0}" = 1 ]; then
	mkdir -p "$san"
	export ASAN_OPTIONS="log_path=$san/asan:abort_on_error=1"
	export UBSAN_OPTIONS="log_path=$san/ubsan:print_stacktrace=1:halt_on_error=1"
fi
if [ "${BUBLK_SAN:-0}" = 1 ]; then
	# the binaries under test really are the sanitized ones
	bin=${BUBLK_O:-build}/bublk
	if ldd "$bin" | grep -q libasan && ldd "$bin" | grep -q libubsan; then
		echo "ok san_build: $bin runs with ASan + UBSan, reports to $san"
	else
		echo "not ok san_build: $bin is not linked with libasan and libubsan"
		failed=1
	fi
fi
# make test-batch: the options really reach the devices the tests make
if [ -n "${BUBLK_TEST_ADD_ARGS:-}" ]; then
	w=selftests/device/bublk_with_args.sh
	if out=$(BUBLK_REAL=${BUBLK_O:-build}/bublk "$w" add -t null -s 16M 2>&1) &&
	   flags=$("${BUBLK_O:-build}/bublk" list --json | tr -d ' \n' |
		   sed -n "s/.*\"dev_id\":${out#/dev/ublkb},[^}]*\"flags\":\([0-9]*\).*/\1/p") &&
	   { [[ " $BUBLK_TEST_ADD_ARGS " != *" --batch "* ]] || [ $((flags >> 15 & 1)) = 1 ]; }; then
		echo "ok add_args [$(uname -r)]: every bublk add gets $BUBLK_TEST_ADD_ARGS (a device made so has flags $flags)"
	else
		echo "not ok add_args [$(uname -r)]: a device made with $BUBLK_TEST_ADD_ARGS: ${out:-} flags ${flags:-?}"
		failed=1
	fi
	"${BUBLK_O:-build}/bublk" del -a >/dev/null 2>&1
fi
san_reports() {
	[ "${BUBLK_SAN:-0}" = 1 ] || return 1
	[ -n "$(ls "$san" 2>/dev/null)" ] || return 1
	echo "sanitizer reports:"
	cat "$san"/* | head -60
	rm -f "$san"/*
}
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	start=$(date +%s.%N)
	# a hang detector, not a time limit: the tests wait for conditions
	# with bounds of their own; t_hostile_modes under ASan beside three
	# other guests took over 300 s
	timeout "${BUBLK_TEST_TIMEOUT:-900}" bash "$t" >"$logdir/$name.log" 2>&1
	rc=$?
	san_reports >>"$logdir/$name.log" && rc=1
	if [ $rc = 0 ]; then
		echo "ok $name [$kernel] ($(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1fs", e-s}')): $(tail -1 "$logdir/$name.log")"
	elif [ $rc = 77 ]; then
		echo "skip $name [$kernel]: $(tail -1 "$logdir/$name.log")"
	else
		echo "not ok $name [$kernel]"
		sed 's/^/    /' "$logdir/$name.log" | tail -40
		failed=$((failed + 1))
	fi
done
exit $((failed > 0))
