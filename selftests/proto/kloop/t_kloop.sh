#!/bin/bash
# VM test (7.1+ kernel): a ublk null device served by loop_step only.
# Build first on the host: selftests/proto/kloop/build.sh.  Run with
#   BUBLK_VM_KSET=newest selftests/vm/run.sh selftests/proto/kloop/t_kloop.sh
cd "$(dirname "$0")/../../.." || exit 1
log=build/kloop/kloop.log
build/kloop/kloop build/kloop/kloop.bpf.o >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q started "$log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
cat "$log"
dev=$(sed -n 's/^kloop: started \(\/dev\/ublkb[0-9]*\)$/\1/p' "$log")
[ -n "$dev" ] || { echo "not ok: no device"; wait $pid; exit 1; }
fail=0
dd if=/dev/urandom of=/tmp/kloop.in bs=4k count=256 status=none
dd if=/tmp/kloop.in of="$dev" bs=4k count=256 oflag=direct status=none || fail=1
dd if="$dev" of=/tmp/kloop.out bs=64k count=64 iflag=direct status=none || fail=1
# null semantics in copy mode: reads return the (zeroed) per-tag buffers
cmp -n $((64 * 65536)) /tmp/kloop.out /dev/zero || { echo "read data is not zero"; fail=1; }
fio --name=kloop --filename="$dev" --rw=randrw --bs=4k --iodepth=16 --ioengine=io_uring \
	--direct=1 --size=64M --runtime=3 --time_based --output-format=terse --terse-version=3 \
	>/tmp/kloop.fio 2>&1 || { cat /tmp/kloop.fio; fail=1; }
fio_ios=$(awk -F';' '{print int(($6 + $47) / 4)}' /tmp/kloop.fio)	# read + write KiB / 4 KiB
echo "fio randrw 4k QD16 3s: $fio_ios I/Os"
kill -TERM $pid
wait $pid
rc=$?
cat "$log" | tail -4
[ $rc = 0 ] || fail=1
[ -e "$dev" ] && { echo "device still present"; fail=1; }
committed=$(sed -n 's/.*committed=\([0-9]*\).*/\1/p' "$log")
enters=$(sed -n 's/.*after \([0-9]*\) io_uring_enter.*/\1/p' "$log")
need=$((256 + 64 + fio_ios))
echo "BPF committed $committed requests, dd+fio issued >= $need, user space entered the ring $enters time(s) after START"
[ "${committed:-0}" -ge "$need" ] || fail=1
[ "$fail" = 0 ] && echo "ok kloop: the queue ran in loop_step" || echo "not ok kloop"
exit $fail
