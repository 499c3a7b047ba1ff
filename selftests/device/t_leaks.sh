#!/bin/bash
# Leaks and limits:
#  - a device created and deleted 3 times: every BPF program and map its
#    daemon loaded is gone once it is deleted (bpftool prog/map list,
#    before and after), and the daemon is gone;
#  - during a fio run of BUBLK_SOAK_SECS seconds (default 20; "make soak"
#    runs 600) the daemon's open files never change, and its memory (VmRSS,
#    sampled every second) stays flat: after a warm-up that touches every
#    request buffer, and after the first third of the samples, it may grow
#    by at most BUBLK_RSS_SLACK_KB (default 1024 KiB).
. "$(dirname "$0")/lib.sh"

secs=${BUBLK_SOAK_SECS:-20}
slack=${BUBLK_RSS_SLACK_KB:-1024}

img=$TMP/disk.img
truncate -s 64M "$img"
progs0=$(nprogs)
maps0=$(nmaps)
for round in 1 2 3; do
	id=$(add_dev -t loop -f "$img" -q 2 -d 32)
	pid=$(dev_pid "$id")
	[ "$(nprogs)" -gt "$progs0" ] || die "round $round: no BPF program loaded? (bpftool sees $(nprogs))"
	[ "$(nmaps)" -gt "$maps0" ] || die "round $round: no BPF map loaded?"
	must dd if=/dev/zero of=/dev/ublkb"$id" bs=64k count=16 oflag=direct status=none
	must "$BUBLK" del -n "$id"
	kill -0 "$pid" 2>/dev/null && die "round $round: daemon $pid still running after del"
	settles_to nprogs "$progs0" 50 || die "round $round: $(( $(nprogs) - progs0 )) BPF programs left 5 s after del"
	settles_to nmaps "$maps0" 50 || die "round $round: $(( $(nmaps) - maps0 )) BPF maps left 5 s after del"
done
echo "3 add/del rounds: BPF programs/maps back to $progs0/$maps0 each time"

# one queue of 16: a warm-up of largest (512K) requests at full depth
# touches every request buffer, so what grows afterwards is not buffers
# being touched for the first time
id=$(add_dev -t loop -f "$img" -q 1 -d 16)
dev=/dev/ublkb$id
pid=$(dev_pid "$id")
must fio --name=warm --filename="$dev" --rw=write --bs=512k --iodepth=32 --direct=1 \
	--ioengine=io_uring --size=64M --output="$TMP/warm.out"
fio --name=rss --filename="$dev" --rw=randrw --bsrange=4k-512k --iodepth=32 --direct=1 \
	--ioengine=io_uring --size=64M --time_based --runtime="$secs" --output="$TMP/rss.out" &
fio_pid=$!
rss=()
fds=()
# sampled with shell builtins: forking is slow under TCG
while kill -0 "$fio_pid" 2>/dev/null; do
	while read -r key val _; do
		[ "$key" = VmRSS: ] && rss+=("$val")
	done <"/proc/$pid/status"
	fdl=("/proc/$pid/fd/"*)
	fds+=("${#fdl[@]}")
	sleep 1
done
wait "$fio_pid" || { cat "$TMP/rss.out"; die "fio failed"; }
grep -q "err= 0" "$TMP/rss.out" || { cat "$TMP/rss.out"; die "fio saw errors"; }
n=${#rss[@]}
[ "$n" -ge 6 ] || die "only $n samples in ${secs}s"
for f in "${fds[@]}"; do
	[ "$f" = "${fds[0]}" ] || die "daemon's open files changed during I/O: ${fds[*]}"
done
base=${rss[$((n / 3))]}
max=$base
for s in "${rss[@]:$((n / 3))}"; do
	[ "$s" -gt "$max" ] && max=$s
done
[ $((max - base)) -le "$slack" ] \
	|| die "daemon RSS grew $((max - base)) KiB (from $base to $max) after warm-up; samples: ${rss[*]}"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "$n samples over ${secs}s of fio: fds flat at ${fds[0]}, RSS flat after warm-up ($base..$max KiB, bound +$slack)"
