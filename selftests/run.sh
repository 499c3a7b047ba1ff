#!/bin/bash
# bublk's test runner: host tests, then device tests (inside the VM when
# this machine has no /dev/ublk-control, once on each kernel of
# BUBLK_VM_KSETS). Every test prints "ok NAME", "not ok NAME" or "skip
# NAME: why" (a kernel lacks a feature); the last line is "N passed, N
# failed, N skipped".
#
#   selftests/run.sh            everything
#   BUBLK_VM_KSETS="6.12 newest" the VM kernels for the device tests (the
#                               default; selftests/vm/build-kernel.sh)
#   BUBLK_VM_JOBS=N ...         at most N VMs at once (default 2: the
#                               kernels' suites and the test module's side
#                               by side, reported in order; 1: one by one)
#   BUBLK_TEST_VM=0 ...         host tests only
#   selftests/run.sh t_null     only the named device tests (host tests still run)
#   selftests/run.sh kmod       only the test ublk module's tests (VM)
#   BUBLK_O=build-san BUBLK_SAN=1 ...   the sanitized build (make test SAN=1)
#   BUBLK_FUZZ=0 ...            no fuzzing pass
#   BUBLK_KMOD=0 ...            no test-module pass
#   BUBLK_TEST_REPEAT=N ...     the device suite N times over (make test-repeat)
#   BUBLK_EVERY_KERNEL=1 ...    the long kernel-independent tests on every
#                               kernel, not only the first (ONE_KERNEL_TESTS)
#   BUBLK_TEST_ADD_ARGS=... ...  options added to every bublk add of the
#                               device tests (make test-batch: --batch)
#   BUBLK_SKIP_TESTS="t_a t_b"  device tests left out of a whole-suite run
#   BUBLK_TEST_HOG=1 ...        a CPU hog on this machine beside the device
#                               tests: results must not depend on load
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
		"skip "*) echo skip >>"$results" ;;
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
# a host kernel that refuses BPF arenas skips these two (with the reason):
# t_bpf_targets_vm runs both on each VM kernel, where nothing is skipped
host_prog bpf_targets "./$O/selftests/bpf_targets" "$O/bpf" --skip-without-arena
section "host BPF: the C twins (--dispatch=c) answer exactly like the BPF targets"
host_prog cmap "./$O/selftests/cmap" "$O/bpf" --skip-without-arena
section "host: NBD backends against nbdkit servers on unix sockets"
host_prog nbd "./$O/selftests/nbd"
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
run_kmod=$(($# == 0 && ${BUBLK_KMOD:-1} != 0))
for t in "$@"; do
	if [ "$t" = kmod ]; then
		run_kmod=1
	else
		device_tests+=("selftests/device/$t.sh")
	fi
done
run_device=$(($# == 0 || ${#device_tests[@]} > 0))

# Long tests of what does not depend on the kernel (a killed add's leftovers,
# fd/RSS sampling, the kill -9 soak): a full make test runs them on the first
# kernel of BUBLK_VM_KSETS only, which keeps it under 15 minutes on 2 cores
# (t_recovery, t_recover_race and t_recover_state still recover on every
# kernel). BUBLK_EVERY_KERNEL=1 (make test-repeat, make soak) runs them on each.
ONE_KERNEL_TESTS="t_add_crash t_crash_soak t_leaks"

repeat=${BUBLK_TEST_REPEAT:-1}
hog_pid=
if [ "${BUBLK_TEST_HOG:-0}" = 1 ]; then
	# one busy process per two CPUs, not niced: qemu's vCPU
	# threads and the tests inside compete with it for the whole run
	hogs=$(( ($(nproc) + 1) / 2 ))
	section "CPU hog: $hogs busy loop(s) beside the device tests"
	bash -c "for _ in \$(seq $hogs); do (while :; do :; done) & done; wait" &
	hog_pid=$!
	trap 'rm -f "$results"; pkill -P "$hog_pid" 2>/dev/null; kill "$hog_pid" 2>/dev/null' EXIT
fi

# VM jobs: each boots one kernel and runs one script, its output kept in a
# file and reported in the order the jobs were declared, whatever order
# they end in. Up to BUBLK_VM_JOBS (default 2) run at once: one TCG guest
# keeps only ~1.15 of this machine's 2 cores busy (its tests wait on I/O
# and on each other), so two side by side finish the suites of both
# kernels and the test module's in about 10 minutes instead of 16.
max_jobs=${BUBLK_VM_JOBS:-2}
jobs_order=()
declare -A job_out=() job_pid=() job_title=() job_what=() rc_of_pid=()
running_jobs() {
	local n=0 name
	for name in "${!job_pid[@]}"; do
		[ -n "${rc_of_pid[${job_pid[$name]}]:-}" ] || n=$((n + 1))
	done
	echo $n
}
start_job() {	# name title what-failed cmd...: run cmd as a VM job
	local name=$1 done_pid rc
	job_title[$name]=$2
	job_what[$name]=$3
	shift 3
	while [ "$(running_jobs)" -ge "$max_jobs" ]; do
		# one job ends (the CPU hog never does); keep its status by pid
		done_pid=
		wait -n -p done_pid
		rc=$?
		[ -n "$done_pid" ] && rc_of_pid[$done_pid]=$rc
	done
	job_out[$name]=$(mktemp)
	"$@" >"${job_out[$name]}" 2>&1 &
	job_pid[$name]=$!
	jobs_order+=("$name")
}
report_jobs() {	# wait for every job, then tally each one's lines in order
	local name pid rc
	for name in "${jobs_order[@]}"; do
		pid=${job_pid[$name]}
		if [ -n "${rc_of_pid[$pid]:-}" ]; then
			rc=${rc_of_pid[$pid]}
		else
			wait "$pid"
			rc=$?
		fi
		section "${job_title[$name]}"
		grep -aE '^(ok|not ok|skip|    |vm:|\()' "${job_out[$name]}" | tally
		if [ $rc -ne 0 ] && ! grep -aq '^not ok' "${job_out[$name]}"; then
			# the VM itself failed: never a silent pass
			tail -30 "${job_out[$name]}"
			echo "not ok ${job_what[$name]} (status $rc)" | tally
		fi
		rm -f "${job_out[$name]}"
	done
	jobs_order=()
	job_out=() job_pid=() job_title=() job_what=() rc_of_pid=()
}
# a kernel set's device suite (BUBLK_SKIP_TESTS: see ONE_KERNEL_TESTS)
suite_job() {	# kset skip
	[ -z "$2" ] || echo "($2: on the first kernel set only)"
	BUBLK_VM_KSET=$1 BUBLK_SKIP_TESTS="${BUBLK_SKIP_TESTS:-} $2" bash selftests/vm/run.sh \
		selftests/device/run-all.sh "${device_tests[@]}"
}
# The test ublk module (selftests/kmod): SHMEM_ZC and the sg hook need the
# patched driver, so always a VM booted with it. Building it is part of
# the test: a module that does not build fails, it is never skipped.
kmod_job() {
	local ko log
	log=$(mktemp)
	# the patched driver is built for Debian 6.12's driver source
	if ! ko=$(BUBLK_VM_KSET=6.12 bash selftests/kmod/build.sh --print 2>"$log"); then
		tail -30 "$log" | sed 's/^/    /'
		rm -f "$log"
		echo "not ok kmod/build (selftests/kmod/build.sh)"
		return 1
	fi
	rm -f "$log"
	echo "ok kmod/build"
	BUBLK_VM_KSET=6.12 BUBLK_VM_UBLK_KO=$ko bash selftests/vm/run.sh selftests/kmod/vm-tests.sh
}

ksets=(${BUBLK_VM_KSETS:-6.12 newest})
if [ "${BUBLK_TEST_VM:-1}" != 0 ] && [ "$run_device" = 1 ] && [ ! -e /dev/ublk-control ]; then
	# resolve/download/unpack serially (and visibly) before any boot
	for kset in "${ksets[@]}"; do
		BUBLK_VM_KSET=$kset bash selftests/vm/build-kernel.sh >/dev/null || true
	done
fi

for round in $(seq "$repeat"); do
[ "$repeat" -gt 1 ] && section "device suite, round $round of $repeat"
if [ "${BUBLK_TEST_VM:-1}" = 0 ]; then
	section "device tests skipped (BUBLK_TEST_VM=0)"
	break
fi
if [ "$run_device" = 1 ] && [ -e /dev/ublk-control ]; then
	section "device tests on this machine ($(uname -r))"
	bash selftests/device/run-all.sh "${device_tests[@]}" 2>&1 | tally
elif [ "$run_device" = 1 ]; then
	# The newest kernel tests the most features, so its suite is the
	# longer one; the long kernel-independent tests (ONE_KERNEL_TESTS)
	# run on the first kernel set instead, and the test module's job
	# takes the slot of whichever suite ends first. The results still
	# come in kernel order.
	for ((k = 0; k < ${#ksets[@]}; k++)); do
		kset=${ksets[$k]}
		# named in the environment, since a list of every other test
		# would not fit the guest's kernel command line
		skip=
		if [ ${#device_tests[@]} = 0 ] && [ "$k" != 0 ] &&
		   [ "${BUBLK_EVERY_KERNEL:-0}" = 0 ]; then
			skip=$ONE_KERNEL_TESTS
		fi
		start_job "suite-$kset" \
			"device tests in the VM, kernel set $kset (this machine has no ublk driver)" \
			"vm-$kset (see build/vm/console-run-all-$kset.log)" suite_job "$kset" "$skip"
	done
	jobs_order=()
	for kset in "${ksets[@]}"; do jobs_order+=("suite-$kset"); done
fi
if [ "$run_kmod" = 1 ] && [ "$round" = 1 ]; then
	start_job kmod "test ublk module (SHMEM_ZC, sg hook) in the VM" \
		"kmod/vm (see build/vm/console-vm-tests-6.12.log)" kmod_job
fi
report_jobs
done

passed=$(grep -c '^ok' "$results")
failed=$(grep -c '^fail' "$results")
skipped=$(grep -c '^skip' "$results")
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
