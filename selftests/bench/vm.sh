#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The device half of `make bench`: runs as root where /dev/ublk-control
# exists (the VM, through selftests/vm/run.sh). Appends one JSON object per
# fio run to OUT (JSON lines; selftests/bench/report.py turns them into the
# tables and plots).
#
#   selftests/bench/vm.sh OUT [dispatch] [floor] [data] [kublk] [nbd]
#
# dispatch: the host dispatch benchmark (dispatch.c) run in this kernel:
#        BPF vs C per request where the device figures are measured.
# floor: 4 KiB randread/randwrite at QD 1/32/128 on kernel null_blk, bublk
#        null (BPF dispatch) and bublk null --dispatch=c.
# data:  read/write/randread/randwrite at 4K/64K/1M on kernel loop, bublk
#        loop --copy and --user-copy (all on one tmpfs file), and on a
#        dm-stripe over 4 kernel loops vs bublk stripe (the same 4 files).
# kublk: the kernel's own ublk server (tools/testing/selftests/ublk, built
#        by build-kublk.sh) as the reference, next to bublk and the kernel:
#        null targets (null_blk; bublk --copy/--user-copy[/--zero-copy
#        [--batch]] and the C twin in the fastest; kublk copy, -z,
#        --auto_zc, --batch) at 4 KiB random QD 1/32/128, and loop on
#        one tmpfs file (kernel loop; bublk --copy/--user-copy[/--zero-copy];
#        kublk copy, -z, --auto_zc), and stripe over 4 tmpfs files at
#        1 MiB (dm-stripe over 4 kernel loops; bublk and kublk stripe in
#        the same modes). Needs the kernel kublk was built for (make bench
#        boots BUBLK_VM_KSET=newest for it).
# nbd:   bublk loop over an NBD export (nbdkit file on tmpfs, unix socket)
#        vs the kernel's NBD client (nbd-client) on the same export: 4 KiB
#        random and 1 MiB sequential at QD 16.
#
# Every case runs its devices back to back inside one repetition, and the
# repetitions interleave, so noise from the shared host hits all devices of
# a comparison alike. CPU per I/O: the bublk daemon's utime+stime
# (/proc/PID/stat) and the whole guest's busy time (/proc/stat), read
# before and after each fio run.
#
# Environment: BUBLK_BENCH_FLOOR_REPS (2), BUBLK_BENCH_DATA_REPS (2),
# BUBLK_BENCH_FLOOR_SECS (3), BUBLK_BENCH_DATA_SECS (2),
# BUBLK_BENCH_KUBLK_REPS (2), BUBLK_BENCH_KUBLK_SECS (1), BUBLK_BENCH_SIZE_MB
# (256): the defaults aim at about 15 minutes for the whole of make bench
# (two VM boots) on a quiet 2-core TCG host (22 minutes with another VM
# running).
set -u
cd "$(dirname "$0")/../.." || exit 1

OUT=${1:?usage: vm.sh OUT [dispatch] [floor] [data]}
shift
GROUPS_WANTED=${*:-dispatch floor data}
FLOOR_REPS=${BUBLK_BENCH_FLOOR_REPS:-2}
DATA_REPS=${BUBLK_BENCH_DATA_REPS:-2}
KUBLK_REPS=${BUBLK_BENCH_KUBLK_REPS:-2}
KUBLK_SECS=${BUBLK_BENCH_KUBLK_SECS:-1}
FLOOR_SECS=${BUBLK_BENCH_FLOOR_SECS:-3}
DATA_SECS=${BUBLK_BENCH_DATA_SECS:-2}
SIZE_MB=${BUBLK_BENCH_SIZE_MB:-256}
BUBLK=$PWD/build/bublk
KUBLK=$PWD/build/kublk/kublk
W=/tmp/bublk-bench
HZ=$(getconf CLK_TCK)

mkdir -p "$W"
: >"$OUT"

log() { echo "bench: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

modload() {
	[ -d "/sys/module/${1//-/_}" ] && return 0
	if [ -n "${BUBLK_VM_MODROOT:-}" ]; then
		modprobe -d "$BUBLK_VM_MODROOT" "$1"
	else
		modprobe "$1"
	fi
}

# --- teardown: everything this script created ---------------------------------
loops=()
cleanup() {
	"$BUBLK" del -a --force >/dev/null 2>&1
	[ ! -x "$KUBLK" ] || "$KUBLK" del -a >/dev/null 2>&1
	dmsetup remove bublk-bench-stripe >/dev/null 2>&1
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT

# Placement: fio on CPU 0, every bublk daemon thread on the last CPU. Left
# to the scheduler, a QD 1 ping-pong between fio and the queue thread is
# several times faster on one vCPU than across two (a cross-CPU wakeup is
# an IPI, slow under TCG), and which one a device gets is luck: its IOPS
# would say more about placement than about bublk.
FIO_CPU=0
DAEMON_CPU=$(($(nproc) - 1))

# bublk add ARGS -> "/dev/ublkbN PID"
bublk_dev() {
	local out id pid
	out=$("$BUBLK" add "$@") || die "bublk add $* failed"
	id=${out#/dev/ublkb}
	pid=$(jq -r .pid "/run/bublk/$id.json") || die "no state for $out"
	taskset -a -p -c "$DAEMON_CPU" "$pid" >/dev/null || die "pinning daemon $pid"
	echo "$out $pid"
}

# kublk add ARGS -> "/dev/ublkbN PID", or nothing when kublk or this
# kernel refuses the mode (logged; the comparison goes on without it)
kublk_dev() {
	local out id pid
	# into a file: the daemon kublk forks keeps its stdout, a pipe would
	# never see the end
	if ! "$KUBLK" add "$@" >"$W/kublk.out" 2>&1; then
		log "kublk add $* failed, left out: $(tail -1 "$W/kublk.out")"
		return 0
	fi
	out=$(cat "$W/kublk.out")
	id=$(echo "$out" | sed -n 's/^dev id \([0-9]*\):.*/\1/p' | head -1)
	pid=$(echo "$out" | sed -n 's/.*daemon pid \([0-9]*\) .*/\1/p' | head -1)
	[ -n "$id" ] && [ -n "$pid" ] || die "kublk add $* said: $out"
	udevadm settle 2>/dev/null
	[ -b "/dev/ublkb$id" ] || die "kublk add $*: /dev/ublkb$id did not appear"
	taskset -a -p -c "$DAEMON_CPU" "$pid" >/dev/null || die "pinning kublk daemon $pid"
	echo "/dev/ublkb$id $pid"
}

# kernel loop on FILE, direct I/O when the file system allows it
kloop_dev() {
	local l
	l=$(losetup --direct-io=on -f --show "$1" 2>/dev/null) ||
		l=$(losetup -f --show "$1") || die "losetup $1 failed"
	loops+=("$l")
	echo "$l"
}

# prints "DAEMON-TICKS GUEST-TICKS"; fio runs it right before and after each job
TICKS=$PWD/build/selftests/bench/ticks

# One case: every repetition of every device of the comparison in one fio
# process, as stonewalled jobs in the order rep 1 (dev A, B, C), rep 2 (A, B,
# C), ...: fio starts once per case (~2 s under TCG), and a device is never
# measured far from the device it is compared with.
#   fio_case GROUP RW BS QD SECS REPS "NAME DEV PID" ...   (PID - : no daemon)
fio_case() {
	local group=$1 rw=$2 bs=$3 qd=$4 secs=$5 reps=$6 i=0 r names=() pids=() spec ticks js
	shift 6
	local specs=("$@") ndev=$#
	{
		printf '[global]\nrw=%s\nbs=%s\niodepth=%s\ndirect=1\nioengine=io_uring\n' "$rw" "$bs" "$qd"
		# thread: no fork per job (forking fio under TCG costs ~0.5 s)
		printf 'time_based\nruntime=%s\nsize=%sM\nrandrepeat=0\nnorandommap\nthread\n' "$secs" "$SIZE_MB"
		printf 'cpus_allowed=%s\n' "$FIO_CPU"
		for ((r = 1; r <= reps; r++)); do
			for spec in "${specs[@]}"; do
				# shellcheck disable=SC2086
				set -- $spec
				names+=("$1")
				pids+=("$3")
				printf '[j%d]\nfilename=%s\nstonewall\nexec_prerun=%s %s\nexec_postrun=%s %s\n' \
					"$i" "$2" "$TICKS" "$3" "$TICKS" "$3"
				i=$((i + 1))
			done
		done
	} >"$W/case.fio"
	rm -f "$W"/j*.prerun.txt "$W"/j*.postrun.txt
	# fio writes the exec_*run output to JOB.{pre,post}run.txt in its cwd
	# (and says so on stdout, before the JSON)
	js=$(cd "$W" && fio --output-format=json case.fio 2>/dev/null | sed -n '/^{/,$p')
	[ -n "$js" ] || { log "fio failed: $group $rw $bs QD$qd"; return 0; }
	ticks=$(for ((i = 0; i < ${#names[@]}; i++)); do
		cat "$W/j$i.prerun.txt" "$W/j$i.postrun.txt" 2>/dev/null || echo "0 0 0 0"
	done | tr -s ' \n' ' ' | sed 's/^ *//; s/ *$//; s/ /,/g')
	echo "$js" | jq -c --arg group "$group" --arg rw "$rw" \
		--argjson bs "$(numfmt --from=iec "${bs^^}")" --argjson qd "$qd" \
		--argjson ndev "$ndev" --argjson secs "$secs" --argjson hz "$HZ" \
		--argjson names "[$(printf '"%s",' "${names[@]}" | sed 's/,$//')]" \
		--argjson pids "[$(printf '"%s",' "${pids[@]}" | sed 's/,$//')]" \
		--argjson t "[$ticks]" '
		.jobs | to_entries[] | .key as $i | .value as $j
		| ($j.read.total_ios + $j.write.total_ios) as $ios
		| (if $ios > 0 then $ios else 1 end) as $n
		| { kind: "fio", group: $group, dev: $names[$i], rw: $rw, bs: $bs, qd: $qd,
		    rep: (($i / $ndev | floor) + 1), secs: $secs,
		    iops: ($j.read.iops + $j.write.iops),
		    bw_bytes: ($j.read.bw_bytes + $j.write.bw_bytes),
		    lat_ns: (if $j.read.total_ios > 0 then $j.read.clat_ns.mean else $j.write.clat_ns.mean end),
		    ios: $ios,
		    daemon_cpu_ns_per_io: (if $pids[$i] == "-" then null
			else ($t[4 * $i + 2] - $t[4 * $i]) * 1e9 / $hz / $n end),
		    guest_cpu_ns_per_io: (($t[4 * $i + 3] - $t[4 * $i + 1]) * 1e9 / $hz / $n),
		    fio_cpu_ns_per_io: (($j.usr_cpu + $j.sys_cpu) / 100 * $secs * 1e9 / $n) }' \
		>"$W/case.jsonl"
	cat "$W/case.jsonl" >>"$OUT"
	jq -r '"bench:   \(.dev | .+ " " * (17 - length)) \(.rw) \(.bs / 1024)K QD\(.qd) rep \(.rep): \(.iops | floor) IOPS, \(.bw_bytes / 1048576 | . * 10 | floor / 10) MiB/s, daemon \(if .daemon_cpu_ns_per_io then (.daemon_cpu_ns_per_io / 1000 | . * 10 | floor / 10 | tostring) + " us/IO" else "-" end)"' \
		"$W/case.jsonl" >&2
}

meta() {
	jq -nc --arg kernel "$(uname -r)" --arg cpu "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
		--argjson ncpu "$(nproc)" --argjson mem_mb "$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)" \
		--argjson floor_reps "$FLOOR_REPS" --argjson data_reps "$DATA_REPS" \
		--argjson floor_secs "$FLOOR_SECS" --argjson data_secs "$DATA_SECS" \
		--argjson kublk_reps "$KUBLK_REPS" --argjson kublk_secs "$KUBLK_SECS" \
		--arg pinning "fio on CPU $FIO_CPU, bublk and kublk daemons on CPU $DAEMON_CPU" \
		--arg fio "$(fio --version)" --argjson extra "$1" \
		'{ kind: "meta", where: "vm", kernel: $kernel, cpu: $cpu, ncpu: $ncpu, mem_mb: $mem_mb,
		   floor_reps: $floor_reps, data_reps: $data_reps, floor_secs: $floor_secs, data_secs: $data_secs,
		   kublk_reps: $kublk_reps, kublk_secs: $kublk_secs, fio: $fio,
		   pinning: $pinning } + $extra' >>"$OUT"
}

# --- 0. dispatch: BPF vs C in the guest kernel, under TCG ----------------------
vm_dispatch() {
	log "dispatch: BPF_PROG_RUN vs C in the guest ($(uname -r))"
	# 16x fewer requests per measurement than on the host: TCG is that slow
	"$PWD/build/selftests/bench/dispatch" build/bpf 5 $((1 << 14)) |
		sed 's/^{"kind": "dispatch"/{"kind": "dispatch", "where": "vm"/' >>"$OUT" ||
		die "dispatch benchmark failed"
}

# --- 1. floor: the ublk round trip and the BPF dispatch, each as a ratio -------
# "bublk del" makes the daemon log its counters; keep requests per dispatch
# call: how many requests one BPF_PROG_RUN was amortised over in this case.
#   batch_stats NAME ID RW QD
batch_stats() {
	local reqs calls
	read -r reqs calls < <(sed -n 's/.* stats: requests=\([0-9]*\) .* dispatch_calls=\([0-9]*\) .*/\1 \2/p' \
		"/run/bublk/$2.log" | tail -1)
	[ -n "$calls" ] || return 0
	printf '{"kind": "batches", "group": "floor", "dev": "%s", "rw": "%s", "qd": %s, "reqs": %s, "calls": %s}\n' \
		"$1" "$3" "$4" "$reqs" "$calls" >>"$OUT"
	log "  $1: $reqs requests in $calls dispatch calls ($((reqs / (calls ? calls : 1))) per call)"
}

floor() {
	local nb bb bbpid bc bcpid
	log "floor: kernel null_blk vs bublk null (BPF) vs bublk null --dispatch=c"
	# one queue, completion in submission (irqmode=0): the kernel's floor
	modload null_blk nr_devices=1 queue_mode=2 irqmode=0 submit_queues=1 \
		hw_queue_depth=128 gb=1 bs=512 || die "cannot load null_blk"
	nb=/dev/nullb0
	udevadm settle 2>/dev/null
	[ -b "$nb" ] || die "$nb did not appear"
	meta '{"group": "floor", "null_blk": "queue_mode=2 irqmode=0 submit_queues=1 hw_queue_depth=128", "bublk": "null -q 1 -d 128 --copy"}'
	for rw in randread randwrite; do
		for qd in 1 32 128; do
			# fresh daemons per case, so their counters describe this case
			read -r bb bbpid <<<"$(bublk_dev -t null --size 1G -q 1 -d 128 --copy)"
			read -r bc bcpid <<<"$(bublk_dev -t null --size 1G -q 1 -d 128 --copy --dispatch=c)"
			fio_case floor "$rw" 4k "$qd" "$FLOOR_SECS" "$FLOOR_REPS" \
				"null_blk $nb -" "bublk-bpf $bb $bbpid" "bublk-c $bc $bcpid"
			"$BUBLK" del -n "${bb#/dev/ublkb}" >/dev/null || die "bublk del"
			"$BUBLK" del -n "${bc#/dev/ublkb}" >/dev/null || die "bublk del"
			batch_stats bublk-bpf "${bb#/dev/ublkb}" "$rw" "$qd"
			batch_stats bublk-c "${bc#/dev/ublkb}" "$rw" "$qd"
		done
	done
}

# --- 2. data path: loop (copy, user copy) and stripe vs the kernel --------------
data() {
	local f kl lc lcpid lu lupid sf kls ks bs bspid sectors devs b
	log "data: kernel loop / dm-stripe vs bublk loop (copy, user copy) / stripe on tmpfs"
	modload loop || die "cannot load loop"
	f=$W/loop.img
	dd if=/dev/urandom of="$f" bs=1M count="$SIZE_MB" status=none || die "making $f"
	kl=$(kloop_dev "$f")
	read -r lc lcpid <<<"$(bublk_dev -t loop -f "$f" -q 1 -d 64 --max-io 1M --copy)"
	read -r lu lupid <<<"$(bublk_dev -t loop -f "$f" -q 1 -d 64 --max-io 1M --user-copy)"

	sf=()
	for i in 0 1 2 3; do
		dd if=/dev/urandom of="$W/s$i.img" bs=1M count=$((SIZE_MB / 4)) status=none || die "making s$i"
		sf+=("$W/s$i.img")
	done
	read -r bs bspid <<<"$(bublk_dev -t stripe -f "$(IFS=,; echo "${sf[*]}")" --chunk 64K -q 1 -d 64 --max-io 1M)"
	# the kernel's RAID0: dm-stripe, 64 KiB chunks, over a loop device per file
	ks=""
	if modload dm-mod 2>/dev/null; then
		kls=()
		for s in "${sf[@]}"; do kls+=("$(kloop_dev "$s")"); done
		sectors=$(($(blockdev --getsz "${kls[0]}") * 4))
		if dmsetup create bublk-bench-stripe --table \
			"0 $sectors striped 4 128 ${kls[0]} 0 ${kls[1]} 0 ${kls[2]} 0 ${kls[3]} 0"; then
			ks=/dev/mapper/bublk-bench-stripe
		fi
	fi
	[ -n "$ks" ] || log "no dm-stripe: bublk stripe is compared with kernel loop only"
	meta "$(jq -nc --arg kdio "$(cat /sys/block/"${kl#/dev/}"/loop/dio 2>/dev/null)" \
		--arg ks "${ks:+dm-stripe 4 x 64K over kernel loop}" \
		'{group: "data", backing: "tmpfs", kloop_direct_io: ($kdio == "1"), kstripe: $ks,
		  bublk: "-q 1 -d 64 --max-io 1M; stripe --chunk 64K (user copy)"}')"

	devs=("kloop $kl -" "bublk-loop-copy $lc $lcpid" "bublk-loop-ucopy $lu $lupid")
	[ -n "$ks" ] && devs+=("dm-stripe $ks -")
	devs+=("bublk-stripe $bs $bspid")
	for rw in read write randread randwrite; do
		for b in 4k 64k 1m; do
			fio_case data "$rw" "$b" 16 "$DATA_SECS" "$DATA_REPS" "${devs[@]}"
		done
	done
}

# --- 3. kublk: the kernel's own ublk server as the reference -----------------
# bublk's data modes this build has: --zero-copy (and --batch) only where
# add --help lists them
bublk_modes() {
	local e="" id
	echo "copy --copy"
	echo "ucopy --user-copy"
	# zero copy in both engines, where this build has --engine and this
	# kernel io_uring_bpf_ops (a try: add says why when it cannot)
	if "$BUBLK" add --help 2>&1 | grep -q -- '--engine'; then
		e=" --engine user"
		if id=$("$BUBLK" add -t null --size 1M --zero-copy --engine kernel 2>"$W/engine.err"); then
			"$BUBLK" del -n "${id#/dev/ublkb}" >/dev/null || die "bublk del $id"
			echo "kern --zero-copy --engine kernel"
		else
			log "no kernel engine: $(tail -1 "$W/engine.err")"
		fi
	fi
	! "$BUBLK" add --help 2>&1 | grep -q -- '--zero-copy' || echo "zc --zero-copy$e"
	# batched commands (UBLK_F_BATCH_IO) on top of zero copy, where both exist
	! "$BUBLK" add --help 2>&1 | grep -q -- '--batch' ||
		! "$BUBLK" features | awk '{ print $2 }' | grep -qx BATCH_IO ||
		echo "zcbatch --zero-copy --batch"
}

kublk() {
	local nb f kl d p name args spec devs=() kdevs=() bmodes sf kls s i rw qd
	[ -x "$KUBLK" ] || die "no $KUBLK (selftests/bench/build-kublk.sh builds it)"
	log "kublk: the kernel's ublk server ($(cat "$PWD/build/kublk/what" 2>/dev/null)) vs bublk vs the kernel, $(uname -r)"
	bmodes=$(bublk_modes)

	# null targets: one queue, depth 128, 4 KiB random
	modload null_blk nr_devices=1 queue_mode=2 irqmode=0 submit_queues=1 \
		hw_queue_depth=128 gb=1 bs=512 || die "cannot load null_blk"
	nb=/dev/nullb0
	udevadm settle 2>/dev/null
	[ -b "$nb" ] || die "$nb did not appear"
	devs=("null_blk $nb -")
	while read -r name args; do
		# shellcheck disable=SC2086 # args: bublk options
		read -r d p <<<"$(bublk_dev -t null --size 1G -q 1 -d 128 $args)"
		devs+=("bublk-null-$name $d $p")
	done <<<"$bmodes"
	# and the C twin of the null target in the fastest mode: what BPF costs
	read -r name args <<<"$(echo "$bmodes" | grep -E '^zc ' || echo "ucopy --user-copy")"
	# shellcheck disable=SC2086
	read -r d p <<<"$(bublk_dev -t null --size 1G -q 1 -d 128 $args --dispatch=c)"
	devs+=("bublk-null-$name-c $d $p")
	for spec in "copy" "zc -z" "autozc --auto_zc" "batch --batch"; do
		read -r name args <<<"$spec"
		# shellcheck disable=SC2086
		read -r d p <<<"$(kublk_dev -t null -q 1 -d 128 $args)"
		[ -z "$d" ] || { devs+=("kublk-null-$name $d $p"); kdevs+=("$d"); }
	done
	meta "$(jq -nc --arg modes "$(echo "$bmodes" | awk '{ $1 = $1 ":"; print }' | paste -sd, -)" \
		--arg kublk "$(cat "$PWD/build/kublk/what" 2>/dev/null)" \
		'{group: "kublk", null_blk: "queue_mode=2 irqmode=0 submit_queues=1 hw_queue_depth=128",
		  null: "-q 1 -d 128", loop: "-q 1 -d 64 on one tmpfs file", bublk_modes: $modes, kublk: $kublk}')"
	for rw in randread randwrite; do
		for qd in 1 32 128; do
			fio_case kublk-null "$rw" 4k "$qd" "$KUBLK_SECS" "$KUBLK_REPS" "${devs[@]}"
		done
	done
	"$BUBLK" del -a >/dev/null || die "bublk del"
	for d in "${kdevs[@]}"; do "$KUBLK" del -n "${d#/dev/ublkb}" >/dev/null || die "kublk del $d"; done

	# loop on one tmpfs file
	modload loop || die "cannot load loop"
	f=$W/kloop.img
	dd if=/dev/urandom of="$f" bs=1M count="$SIZE_MB" status=none || die "making $f"
	kl=$(kloop_dev "$f")
	devs=("kloop $kl -")
	kdevs=()
	while read -r name args; do
		# shellcheck disable=SC2086
		read -r d p <<<"$(bublk_dev -t loop -f "$f" -q 1 -d 64 --max-io 1M $args)"
		devs+=("bublk-loop-$name $d $p")
	done <<<"$bmodes"
	for spec in "copy" "zc -z" "autozc --auto_zc"; do
		read -r name args <<<"$spec"
		# shellcheck disable=SC2086
		read -r d p <<<"$(kublk_dev -t loop -q 1 -d 64 $args "$f")"
		[ -z "$d" ] || { devs+=("kublk-loop-$name $d $p"); kdevs+=("$d"); }
	done
	fio_case kublk-loop randread 4k 16 "$KUBLK_SECS" "$KUBLK_REPS" "${devs[@]}"
	fio_case kublk-loop randwrite 4k 16 "$KUBLK_SECS" "$KUBLK_REPS" "${devs[@]}"
	fio_case kublk-loop read 1m 16 "$KUBLK_SECS" "$KUBLK_REPS" "${devs[@]}"
	fio_case kublk-loop write 1m 16 "$KUBLK_SECS" "$KUBLK_REPS" "${devs[@]}"
	"$BUBLK" del -a >/dev/null || die "bublk del"
	for d in "${kdevs[@]}"; do "$KUBLK" del -n "${d#/dev/ublkb}" >/dev/null || die "kublk del $d"; done

	# stripe over 4 tmpfs files, 64 KiB chunks: dm-stripe over a kernel
	# loop device per file, kublk's stripe target, bublk's in each mode
	modload dm-mod || { log "no dm-mod: the stripe comparison is left out"; return 0; }
	sf=()
	for i in 0 1 2 3; do
		dd if=/dev/urandom of="$W/ks$i.img" bs=1M count=$((SIZE_MB / 4)) status=none || die "making ks$i"
		sf+=("$W/ks$i.img")
	done
	kls=()
	for s in "${sf[@]}"; do kls+=("$(kloop_dev "$s")"); done
	dmsetup create bublk-bench-stripe --table \
		"0 $(($(blockdev --getsz "${kls[0]}") * 4)) striped 4 128 ${kls[0]} 0 ${kls[1]} 0 ${kls[2]} 0 ${kls[3]} 0" ||
		die "dmsetup create failed"
	devs=("dm-stripe /dev/mapper/bublk-bench-stripe -")
	kdevs=()
	while read -r name args; do
		# shellcheck disable=SC2086
		read -r d p <<<"$(bublk_dev -t stripe -f "$(IFS=,; echo "${sf[*]}")" --chunk 64K -q 1 -d 64 --max-io 1M $args)"
		devs+=("bublk-stripe-$name $d $p")
	done <<<"$bmodes"
	for spec in "copy" "zc -z" "autozc --auto_zc"; do
		read -r name args <<<"$spec"
		# shellcheck disable=SC2086
		read -r d p <<<"$(kublk_dev -t stripe -q 1 -d 64 --chunk_size 65536 $args "${sf[@]}")"
		[ -z "$d" ] || { devs+=("kublk-stripe-$name $d $p"); kdevs+=("$d"); }
	done
	fio_case kublk-stripe read 1m 16 "$KUBLK_SECS" "$KUBLK_REPS" "${devs[@]}"
	fio_case kublk-stripe write 1m 16 "$KUBLK_SECS" "$KUBLK_REPS" "${devs[@]}"
	"$BUBLK" del -a >/dev/null || die "bublk del"
	for d in "${kdevs[@]}"; do "$KUBLK" del -n "${d#/dev/ublkb}" >/dev/null || die "kublk del $d"; done
	dmsetup remove bublk-bench-stripe || die "dmsetup remove"
}

# NBD (docs/nbd.md): bublk loop over an NBD export against the kernel's own
# NBD client (module nbd, nbd-client) on the same export, one nbdkit file
# server on a tmpfs file over a unix socket; the server runs on the
# daemons' CPU for both, so each client has the same room
nbd() {
	local f sock srv d p kn=/dev/nbd0
	command -v nbdkit >/dev/null && command -v nbd-client >/dev/null ||
		die "the nbd group needs nbdkit and nbd-client (selftests/bench/install-deps.sh)"
	modload nbd nbds_max=2 || die "cannot load the nbd module"
	f=$W/nbd.img
	sock=$W/nbd.sock
	dd if=/dev/urandom of="$f" bs=1M count="$SIZE_MB" status=none || die "making $f"
	taskset -c "$DAEMON_CPU" nbdkit -f -U "$sock" file "$f" >"$W/nbdkit.log" 2>&1 &
	srv=$!
	for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
	[ -S "$sock" ] || die "nbdkit did not start: $(cat "$W/nbdkit.log")"
	nbd-client -unix "$sock" "$kn" -b 4096 >"$W/nbd-client.log" 2>&1 ||
		die "nbd-client -unix $sock $kn: $(cat "$W/nbd-client.log")"
	read -r d p <<<"$(bublk_dev -t loop -f "nbd+unix:///?socket=$sock" -q 1 -d 64 --max-io 1M)"
	meta "$(jq -nc --arg nbdkit "$(nbdkit --version | head -1)" \
		--arg client "$(nbd-client -V 2>&1 | head -1)" \
		'{group: "nbd", server: ("nbdkit file on tmpfs, unix socket: " + $nbdkit),
		  kernel_client: $client, bublk: "-t loop -q 1 -d 64 --max-io 1M (user copy)"}')"
	local devs=("knbd $kn -" "bublk-nbd $d $p")
	fio_case nbd randread 4k 16 "$DATA_SECS" "$DATA_REPS" "${devs[@]}"
	fio_case nbd randwrite 4k 16 "$DATA_SECS" "$DATA_REPS" "${devs[@]}"
	fio_case nbd read 1m 16 "$DATA_SECS" "$DATA_REPS" "${devs[@]}"
	fio_case nbd write 1m 16 "$DATA_SECS" "$DATA_REPS" "${devs[@]}"
	"$BUBLK" del -a >/dev/null || die "bublk del"
	nbd-client -d "$kn" >/dev/null 2>&1
	kill "$srv"
}

[ -e /dev/ublk-control ] || die "no /dev/ublk-control (run through selftests/vm/run.sh)"
if ! command -v fio >/dev/null || ! command -v jq >/dev/null; then
	die "needs fio and jq"
fi
start=$(date +%s)
for g in $GROUPS_WANTED; do
	case "$g" in
	dispatch) vm_dispatch ;;
	floor) floor ;;
	data) data ;;
	kublk) kublk ;;
	nbd) nbd ;;
	*) die "unknown group $g (dispatch, floor, data, kublk, nbd)" ;;
	esac
done
log "done in $(($(date +%s) - start)) s: $(wc -l <"$OUT") records in $OUT"
