#!/bin/bash
# every shipped BPF target loads and maps requests on the VM's kernel too
# (verifiers differ between kernels), each program within the verifier
# budget of selftests/host/bpf_targets.c, and the C twins (--dispatch=c)
# answer exactly like them (selftests/host/cmap.c); the last line gives
# every program's verified instruction count on this kernel. The host runs
# the same two programs, but may skip them (a host kernel that refuses BPF
# arenas); here a refusal fails.
. "$(dirname "$0")/lib.sh"

prog=./$BUBLK_O/selftests/bpf_targets
twins=./$BUBLK_O/selftests/cmap
for p in "$prog" "$twins"; do
	[ -x "$p" ] || die "$p is missing: make O=$BUBLK_O $p (and the rest of TEST_PROGS)"
done
if ! "$twins" "$BUBLK_O/bpf" >"$TMP/twins" 2>&1; then
	cat "$TMP/twins"
	grep -E '^(not ok|  check failed)' "$TMP/twins"
	die "cmap (the C twins against the BPF targets) failed on $(uname -r)"
fi
if ! "$prog" "$BUBLK_O/bpf" >"$TMP/out" 2>&1; then
	cat "$TMP/out"
	# the verdicts last, where the runner's tail of this log shows them
	grep -E '^(not ok|  check failed)' "$TMP/out"
	die "bpf_targets failed on $(uname -r)"
fi
grep '^ok load ' "$TMP/out"
counts=$(sed -n 's/^ok load //p' "$TMP/out" | sed 's/ insns//g; s/bublk_//g; s/,//g' | paste -sd';' | sed 's/;/; /g')
[ -n "$counts" ] || die "bpf_targets printed no verified instruction counts"
echo "$(uname -r): $(sed -n 's/^# \([0-9]* checks passed\).*/\1/p' "$TMP/out"); C twins: $(grep -c '^ok ' "$TMP/twins") tests ok; verified insns: $counts"
