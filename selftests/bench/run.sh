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
#   3. report.py: medians, spreads, per-repetition ratios, plots
#
# Environment: BUBLK_BENCH_GROUPS (default "dispatch floor data") and those
# of vm.sh (BUBLK_BENCH_REPS, ..._FLOOR_SECS, ..._DATA_SECS, ..._SIZE_MB).
# Never part of make test: numbers are reported, never asserted.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

GROUPS_WANTED=${BUBLK_BENCH_GROUPS:-dispatch floor data}
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
for g in $GROUPS_WANTED; do
	case "$g" in
	dispatch)
		say "1/3 host dispatch: BPF_PROG_RUN vs C, ns per request ($(uname -r))"
		./build/selftests/bench/dispatch build/bpf 7 >"$RAW/dispatch.jsonl" ||
			{ say "dispatch benchmark failed"; exit 1; }
		vm_groups+=("$g")
		;;
	floor | data) vm_groups+=("$g") ;;
	*) say "unknown group $g (dispatch, floor, data)"; exit 2 ;;
	esac
done

if [ ${#vm_groups[@]} -gt 0 ]; then
	if [ -e /dev/ublk-control ]; then
		say "2/3 devices on this machine: ${vm_groups[*]}"
		bash selftests/bench/vm.sh "$RAW/vm.jsonl" "${vm_groups[@]}" || { say "device benchmark failed"; exit 1; }
	else
		say "2/3 devices in the VM (qemu TCG, Debian 6.12): ${vm_groups[*]}"
		# the guest's progress lines, not its boot chatter
		BUBLK_VM_TIMEOUT=${BUBLK_VM_TIMEOUT:-1500} bash selftests/vm/run.sh \
			selftests/bench/vm.sh "$RAW/vm.jsonl" "${vm_groups[@]}" 2>&1 |
			grep --line-buffered -aE '^(bench|vm):'
		rc=${PIPESTATUS[0]}
		[ "$rc" = 0 ] || { say "device benchmark failed in the VM (status $rc; build/vm/console-vm-6.12.log)"; exit 1; }
	fi
fi

python3 - "$RAW/meta.json" "$(($(date +%s) - start))" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["duration_s"] = int(sys.argv[2]); json.dump(m, open(sys.argv[1], "w"))
PY
say "3/3 report"
python3 selftests/bench/report.py "$OUT" || exit 1
say "done in $(($(date +%s) - start)) s: $OUT/results.md"
