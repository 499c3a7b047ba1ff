# SPDX-License-Identifier: MIT
# Shared helpers for device tests (sourced; run inside the VM, cwd = checkout).
set -u

BUBLK=${BUBLK:-$PWD/build/bublk}
TMP=${TMPDIR:-/tmp}/bublk-test.$$
mkdir -p "$TMP"

die() {
	echo "FAIL: $*" >&2
	exit 1
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
