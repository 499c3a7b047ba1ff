#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make bench: measure bublk against the kernel and against itself, side by
# side, and write bench-results/<date>/{results.json,results.md,*.png}.
#
#   1. host: BPF_PROG_RUN dispatch vs the C twin, ns per request, per target
#      and batch size (selftests/bench/dispatch.c); again in the VM kernel
#   2. device (in the VM when this machine has no ublk driver): the floor
#      (null targets vs null_blk) and the data path (loop, stripe vs kernel
#      loop, dm-stripe) with fio (selftests/bench/vm.sh)
#   2b. kublk, the kernel's own ublk server (build-kublk.sh builds it from
#      Debian's linux-source of the VM's newest kernel), as the reference:
#      null and loop targets of kublk, bublk and the kernel side by side,
#      in a second VM boot on that kernel (BUBLK_VM_KSET=newest)
#   3. report.py: medians, spreads, per-repetition ratios, plots
#
# Environment: BUBLK_BENCH_GROUPS (default "dispatch floor data nbd kublk") and
# those of vm.sh (BUBLK_BENCH_*_REPS, ..._SECS, ..._SIZE_MB).
# Never part of make test: numbers are reported, never asserted.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

GROUPS_WANTED=${BUBLK_BENCH_GROUPS:-dispatch floor data nbd kublk}
stamp=$(date -u +%Y-%m-%d_%H%M)
OUT=bench-results/$stamp
RAW=$OUT/raw
mkdir -p "$RAW"
ln -sfn "$stamp" bench-results/latest
start=$(date +%s)
say() { echo "bench: $*"; }

say "results go to $OUT (groups: $GROUPS_WANTED)"
python3 - "$RAW/meta.json" "$stamp" <<'PY'
import json, os, platform, sys
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rev = os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip()
json.dump({"date": sys.argv[2], "commit": rev,
           "host": {"kernel": platform.release(), "cpu": cpu, "ncpu": os.cpu_count(),
                    "loadavg": open("/proc/loadavg").read().split()[0]}}, open(sys.argv[1], "w"))
PY

vm_groups=()
kublk=0
for g in $GROUPS_WANTED; do
	case "$g" in
	dispatch)
		say "1/3 host dispatch: BPF_PROG_RUN vs C, ns per request ($(uname -r))"
		./build/selftests/bench/dispatch build/bpf 7 >"$RAW/dispatch.jsonl" ||
			{ say "dispatch benchmark failed"; exit 1; }
		vm_groups+=("$g")
		;;
	floor | data | nbd) vm_groups+=("$g") ;;
	kublk)
		kublk=1
		bash selftests/bench/build-kublk.sh ||
			{ say "cannot build kublk (BUBLK_BENCH_GROUPS without kublk skips it)"; exit 1; }
		;;
	*) say "unknown group $g (dispatch, floor, data, nbd, kublk)"; exit 2 ;;
	esac
done

# vm_run KSET OUT GROUP...: vm.sh here when this machine has ublk, else in
# the VM booting KSET (6.12 or newest, selftests/vm/run.sh)
vm_run() {
	local kset=$1 out=$2 rc
	shift 2
	if [ -e /dev/ublk-control ]; then
		say "2/3 devices on this machine: $*"
		bash selftests/bench/vm.sh "$out" "$@" || { say "device benchmark failed"; exit 1; }
		return
	fi
	say "2/3 devices in the VM (qemu TCG, Debian $kset): $*"
	# the guest's progress lines, not its boot chatter
	BUBLK_VM_KSET=$kset BUBLK_VM_TIMEOUT=${BUBLK_VM_TIMEOUT:-1500} bash selftests/vm/run.sh \
		selftests/bench/vm.sh "$out" "$@" 2>&1 |
		grep --line-buffered -aE '^(bench|vm):'
	rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || { say "device benchmark failed in the VM (status $rc; build/vm/console-vm-$kset.log)"; exit 1; }
}

[ ${#vm_groups[@]} -eq 0 ] || vm_run 6.12 "$RAW/vm.jsonl" "${vm_groups[@]}"
# kublk is built for the newest kernel; on a machine with ublk it runs on
# whatever kernel this is
[ "$kublk" = 0 ] || vm_run newest "$RAW/vm-kublk.jsonl" kublk

python3 - "$RAW/meta.json" "$(($(date +%s) - start))" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["duration_s"] = int(sys.argv[2]); json.dump(m, open(sys.argv[1], "w"))
PY
say "3/3 report"
python3 selftests/bench/report.py "$OUT" || exit 1
say "done in $(($(date +%s) - start)) s: $OUT/results.md"
