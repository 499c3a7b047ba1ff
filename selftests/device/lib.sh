# SPDX-License-Identifier: MIT
# Shared helpers for device tests (sourced; run inside the VM, cwd = checkout).
set -u

# BUBLK_O: the build directory under test (build-san for the sanitized build)
BUBLK_O=${BUBLK_O:-build}
BUBLK=${BUBLK:-$PWD/$BUBLK_O/bublk}
# make test-batch: every bublk add of the suite with these options too
if [ -n "${BUBLK_TEST_ADD_ARGS:-}" ] && [ -z "${BUBLK_REAL:-}" ]; then
	export BUBLK_REAL=$BUBLK
	BUBLK=$PWD/selftests/device/bublk_with_args.sh
fi
TMP=${TMPDIR:-/tmp}/bublk-test.$$
mkdir -p "$TMP"

die() {
	echo "FAIL: $*" >&2
	exit 1
}

# the test cannot run on this kernel: reported as skipped with the reason
# (run-all.sh: exit status 77); only for a feature the kernel really lacks
skip() {
	echo "$*"
	exit 77
}

# skip unless this kernel's ublk driver reports feature NAME (as bublk
# features names it, e.g. ZERO_COPY, QUIESCE)
need_feature() {	# NAME
	"$BUBLK" features | awk '{ print $2 }' | grep -qx "$1" ||
		skip "$(uname -r) lacks UBLK_F_$1"
}

# run a command, failing the test with its output if it fails
must() {
	"$@" || die "command failed ($?): $*"
}

# bublk add ... -> prints the dev id
add_dev() {
	local out
	out=$("$BUBLK" add "$@") || die "bublk add $* failed"
	case "$out" in
	/dev/ublkb*) echo "${out#/dev/ublkb}" ;;
	*) die "bublk add printed \"$out\", not /dev/ublkbN" ;;
	esac
}

cleanup() {
	"$BUBLK" del -a --force >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

# no ublk device may survive a test
assert_no_devices() {
	local left
	left=$(ls /dev/ublkb* /dev/ublkc* 2>/dev/null)
	[ -z "$left" ] || die "devices left behind: $left"
}

# load a kernel module the VM ships outside its boot set (ext4, null_blk)
need_module() {
	grep -qw "$1" /proc/filesystems 2>/dev/null && return 0
	[ -d "/sys/module/$1" ] && return 0
	if [ -n "${BUBLK_VM_MODROOT:-}" ]; then
		modprobe -d "$BUBLK_VM_MODROOT" "$1" || die "cannot load module $1 in the VM"
	else
		modprobe "$1" || die "cannot load module $1"
	fi
}

# bublk's BPF programs and maps (bublk_dispatch, bublk_init, bublk_arena,
# bublk_dev, bublk_config): bpftool's own short-lived iterator objects
# must not count
nprogs() { bpftool prog list | grep -c '^[0-9]*: .* name bublk_'; }
nmaps() { bpftool map list | grep -c '^[0-9]*: .* name bublk_'; }

# wait until counter function fn prints want (the kernel frees BPF objects
# asynchronously after the last close); tries of 0.1 s, default 100
settles_to() {	# fn want [tries]
	local i
	for i in $(seq "${3:-100}"); do
		[ "$($1)" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# fio random writes of 4-256 KiB, then read back and verified (crc32c);
# its report in $TMP/NAME.out; extra fio arguments after NAME
fio_verify() {	# dev name [extra args]
	local dev=$1 name=$2
	shift 2
	fio --name="$name" --filename="$dev" --rw=randwrite --bsrange=4k-256k --iodepth=16 --direct=1 \
		--ioengine=io_uring --io_size=16M --verify=crc32c --verify_state_save=0 --do_verify=1 \
		--verify_fatal=1 --output="$TMP/$name.out" "$@"
}

# pid of device id's daemon, from its state file
dev_pid() {
	sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "/run/bublk/$1.json"
}

# wait (up to 30 s) until a killed or stopped process is really gone:
# SIGKILL is asynchronous, tearing down io_uring rings takes a while, and a
# daemon's device files disappear before it has exited
wait_gone() {	# pid [what it is, for the failure message]
	local i st
	for i in $(seq 600); do
		st=$(sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
		case "$st" in "" | Z | X) return 0 ;; esac
		sleep 0.05
	done
	die "${2:-process} $1 still alive 30 s after being signalled (state $st)"
}
