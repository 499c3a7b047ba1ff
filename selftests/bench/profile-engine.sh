#!/bin/bash
# Where a ublk daemon's CPU goes at QD 1 (null target, 4 KiB randread):
# bublk's kernel engine, bublk's user engine and kublk --auto_zc, one after
# the other in one boot; perf cpu-clock samples of each daemon, its top
# symbols. Needs build/kublk/kublk (selftests/bench/build-kublk.sh) and a
# 7.1+ kernel:
#   BUBLK_VM_KSET=newest selftests/vm/run.sh selftests/bench/profile-engine.sh
# docs/performance.md ("The in-kernel engine beside kublk") has one run.
cd "$(dirname "$0")/../.." || exit 1
B=build/bublk
K=build/kublk/kublk
prof() {	# name pid dev
	perf record -q -e cpu-clock -F 4000 -g -p "$2" -o /tmp/$1.data -- sleep 6 >/dev/null 2>&1 &
	local pp=$!
	fio --name=p --filename=$3 --rw=randread --bs=4k --iodepth=1 --direct=1 --ioengine=io_uring \
		--time_based --runtime=6 --output-format=terse --cpus_allowed=0 | awk -F';' '{print "'$1' IOPS", $8}'
	wait $pp
	echo "== $1: top symbols (self)"
	perf report -i /tmp/$1.data --no-children --sort sym --stdio 2>/dev/null | grep -v "^#" | grep "%" | head -30
	echo "== $1: by dso"
	perf report -i /tmp/$1.data --no-children --sort dso --stdio 2>/dev/null | grep -v "^#" | grep "%" | head -8
}
for e in kernel user; do
	out=$($B add -t null --size 1G -q 1 -d 128 --zero-copy --engine $e) || exit 1
	id=${out#/dev/ublkb}
	pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' /run/bublk/$id.json)
	taskset -a -p -c 1 $pid >/dev/null
	prof bublk-$e $pid $out
	$B del -n $id
done
out=$($K add -t null -q 1 -d 128 --auto_zc 2>&1)
id=$(echo "$out" | sed -n 's/^dev id \([0-9]*\):.*/\1/p' | head -1)
pid=$(echo "$out" | sed -n 's/.*daemon pid \([0-9]*\) .*/\1/p' | head -1)
sleep 1
taskset -a -p -c 1 $pid >/dev/null
prof kublk-autozc $pid /dev/ublkb$id
$K del -n $id
