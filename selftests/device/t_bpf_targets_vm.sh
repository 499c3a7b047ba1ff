#!/bin/bash
# every shipped BPF target loads and maps requests on the VM's kernel too
# (verifiers differ between kernels)
. "$(dirname "$0")/lib.sh"

./build/selftests/bpf_targets build/bpf > "$TMP/out" 2>&1 || { cat "$TMP/out"; die "bpf_targets failed on $(uname -r)"; }
grep "checks passed" "$TMP/out" | sed "s/^# /$(uname -r): /"
