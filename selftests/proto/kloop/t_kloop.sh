#!/bin/bash
# VM test (7.1+ kernel): a ublk null device served by loop_step only.
# Build first on the host: selftests/proto/kloop/build.sh (and `make` for the
# optional QD1 comparison with `bublk add -t null`).  Run with
#   BUBLK_VM_KSET=newest selftests/vm/run.sh selftests/proto/kloop/t_kloop.sh
cd "$(dirname "$0")/../../.." || exit 1
log=build/kloop/kloop.log
qd1() {	# fio 4k randread QD1 for 5 s: IOPS
	fio --name=qd1 --filename="$1" --rw=randread --bs=4k --iodepth=1 --ioengine=io_uring \
		--direct=1 --runtime=5 --time_based --output-format=terse --terse-version=3 \
		2>/dev/null | awk -F';' '{print $8}'
}
build/kloop/kloop build/kloop/kloop.bpf.o >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q started "$log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
cat "$log"
dev=$(sed -n 's/^kloop: started \(\/dev\/ublkb[0-9]*\)$/\1/p' "$log")
[ -n "$dev" ] || { echo "not ok: no device"; wait $pid; exit 1; }
fail=0
dd if=/dev/urandom of=/tmp/kloop.in bs=4k count=256 status=none
dd if=/tmp/kloop.in of="$dev" bs=4k count=256 oflag=direct status=none || fail=1
# copy mode null: a read returns whatever its tag's buffer last held
dd if="$dev" of=/tmp/kloop.out bs=64k count=64 iflag=direct status=none || fail=1
fio --name=kloop --filename="$dev" --rw=randrw --bs=4k --iodepth=16 --ioengine=io_uring \
	--direct=1 --size=64M --runtime=3 --time_based --output-format=terse --terse-version=3 \
	>/tmp/kloop.fio 2>&1 || { cat /tmp/kloop.fio; fail=1; }
echo "fio randrw 4k QD16 3s: $(awk -F';' '{print $8 + $49}' /tmp/kloop.fio) IOPS, errors $(awk -F';' '{print $5}' /tmp/kloop.fio)"
kiops=$(qd1 "$dev")
echo "fio randread 4k QD1 5s, kloop (loop_step): $kiops IOPS"
# the block layer's own count of completed requests (fields 1 and 5)
read -r r _ _ _ w _ < "/sys/block/${dev#/dev/}/stat"
kill -TERM $pid
wait $pid
rc=$?
tail -3 "$log"
[ $rc = 0 ] || { echo "kloop exited $rc"; fail=1; }
[ -e "$dev" ] && { echo "device still present"; fail=1; }
reads=$(sed -n 's/.* reads=\([0-9]*\).*/\1/p' "$log")
writes=$(sed -n 's/.* writes=\([0-9]*\).*/\1/p' "$log")
enters=$(sed -n 's/.*after \([0-9]*\) io_uring_enter.*/\1/p' "$log")
echo "block layer completed $r reads + $w writes; BPF committed $reads reads + $writes writes; user space entered the ring $enters time(s) after START"
[ "$reads" = "$r" ] && [ "$writes" = "$w" ] && [ "$enters" = 1 ] || fail=1
if [ -x build/bublk ]; then
	out=$(build/bublk add -t null --size 256M) && {
		echo "fio randread 4k QD1 5s, bublk add -t null (user engine): $(qd1 "$out") IOPS"
		build/bublk del -n "${out#/dev/ublkb}"
	}
fi
[ "$fail" = 0 ] && echo "ok kloop: every request of the device was committed by loop_step" || echo "not ok kloop"
exit $fail
