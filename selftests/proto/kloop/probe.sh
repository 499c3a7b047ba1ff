#!/bin/bash
# VM probe: dump the running kernel's BTF as C (for the struct_ops program)
# and report what io_uring's BPF loop offers.
cd "$(dirname "$0")/../../.." || exit 1
mkdir -p build
uname -r
bpftool btf dump file /sys/kernel/btf/vmlinux format c > build/vmlinux-$(uname -r | cut -d. -f1-2).h
grep -n -A6 'struct io_uring_bpf_ops {' build/vmlinux-*.h
grep -n -A4 'struct iou_loop_params {' build/vmlinux-*.h
bpftool btf dump file /sys/kernel/btf/vmlinux | grep -E "bpf_io_uring_(get_region|submit_sqes)|IOU_REGION|IOU_LOOP" | head
grep -E 'bpf_io_uring' /proc/kallsyms | head
