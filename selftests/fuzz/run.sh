#!/bin/bash
# Run the libFuzzer harnesses built in $O/fuzz (make fuzz-build) for
# FUZZ_TIME seconds each, starting from the committed seed corpus
# selftests/fuzz/corpus/NAME/ (which also holds every crash ever found:
# regression inputs, replayed first). Prints "ok fuzz_NAME" or
# "not ok fuzz_NAME" with the crash; new inputs land in $O/fuzz/corpus/NAME/.
#
#   FUZZ_TIME=60 O=build selftests/fuzz/run.sh [NAME...]
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
time=${FUZZ_TIME:-60}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(ls selftests/fuzz/fuzz_*.c | sed 's|.*/fuzz_\(.*\)\.c|\1|'))
failed=0
for n in "${names[@]}"; do
	bin=$O/fuzz/fuzz_$n
	seeds=selftests/fuzz/corpus/$n
	work=$O/fuzz/corpus/$n
	log=$O/fuzz/$n.log
	mkdir -p "$work" "$seeds"
	if [ ! -x "$bin" ]; then
		echo "not ok fuzz_$n: $bin not built (make fuzz-build)"
		failed=$((failed + 1))
		continue
	fi
	# -close_fd_mask=3: silence what the code under test prints (usage,
	# errors); libFuzzer and sanitizer reports still reach the log
	if "$bin" -close_fd_mask=3 -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$O/fuzz/crash-$n-" "$work" "$seeds" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok fuzz_$n: ${runs:-?} inputs in ${time}s, no crash"
	else
		echo "not ok fuzz_$n (log: $log)"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written|runtime error' "$log" | head -20 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
exit $((failed > 0))
