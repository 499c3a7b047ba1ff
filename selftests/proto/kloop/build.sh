#!/bin/bash
# Build the kloop prototype into build/kloop/ (not part of make all/test).
# Needs build/vmlinux-7.3.h, dumped on the 7.3 VM by probe.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=build/kloop
mkdir -p "$out"
[ -f build/vmlinux-7.3.h ] || { echo "build/vmlinux-7.3.h missing: run probe.sh in the 7.3 VM" >&2; exit 1; }
clang-19 -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wno-missing-declarations -Ibuild -Iselftests/proto/kloop \
	-c selftests/proto/kloop/kloop.bpf.c -o "$out/kloop.bpf.o"
gcc -D_GNU_SOURCE -g -O2 -Wall -Wextra -Wno-unused-parameter -Iinclude -Iruntime/lib -Iloader -Iselftests/proto/kloop \
	-o "$out/kloop" selftests/proto/kloop/kloop.c runtime/lib/ctrl.c loader/struct_ops.c \
	-lbpf -luring -lpthread
echo "built $out/kloop $out/kloop.bpf.o"
