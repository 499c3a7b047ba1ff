#!/bin/bash
# bad input to "bublk add" is refused with a clear message and leaves no device.
. "$(dirname "$0")/lib.sh"

expect_fail() {	# expected-message-part, args...
	local want=$1
	shift
	if "$BUBLK" add "$@" >"$TMP/out" 2>"$TMP/err"; then
		die "bublk add $* succeeded"
	fi
	grep -q -- "$want" "$TMP/err" || die "bublk add $*: expected \"$want\", got: $(cat "$TMP/err")"
	assert_no_devices
}

expect_fail "No such file" -t loop -f "$TMP/missing.img"
expect_fail "give --size" -t null
expect_fail "no such target object" -t nosuchtarget --size 1M
# the known targets come from the objects themselves
expect_fail "targets: .*stripe" -t nosuchtarget --size 1M
echo garbage > "$TMP/bad.bpf.o"
expect_fail "not a loadable BPF object" -t "$TMP/bad.bpf.o" --size 1M
expect_fail "bad --size" -t null --size 12Q
expect_fail "queues must be" -t null --size 1M -q 0
: > "$TMP/empty.img"
expect_fail "size is 0" -t loop -f "$TMP/empty.img"
truncate -s 1M "$TMP/small.img"
expect_fail "smaller than the device" -t loop -f "$TMP/small.img" --size 4M
expect_fail "loop needs exactly one backing file" -t loop -f "$TMP/small.img,$TMP/small.img"
# the host's root is shared read-only into the VM: a file there cannot back a writable device
ro=/usr/share/common-licenses/GPL-3
expect_fail "read-only" -t loop -f "$ro"
# targets with their own rules, in their own words (bublk_refuse)
expect_fail "mirror needs 2 to 4 legs" -t mirror -f "$TMP/small.img"
expect_fail "overlay needs -f OVERLAY and --base IMG" -t overlay -f "$TMP/small.img"
expect_fail "smaller than its 1 MiB block table" -t overlay -f "$TMP/small.img" --base "$TMP/small.img"
expect_fail "chunk must be a power of two >= 4K (Numerical argument out of domain)" -t stripe -f "$TMP/small.img,$TMP/small.img" --chunk 5000
expect_fail "chunk is larger than the smallest backing file" -t stripe -f "$TMP/small.img,$TMP/small.img" --chunk 2M
expect_fail "unknown option" -t stripe -f "$TMP/small.img" --set chonk=1
expect_fail "512 or 4096" -t loop -f "$TMP/small.img" --block-size 1024
# a FIFO used to block the add for good (open waits for a writer, with the
# stop signals blocked): refused at once, bounded so a regression fails
mkfifo "$TMP/fifo"
timeout -s KILL 60 "$BUBLK" add -t loop -f "$TMP/fifo" --readonly --foreground >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc != 137 ] || die "bublk add -f FIFO --readonly hung (killed after 60 s)"
[ $rc != 0 ] || die "bublk add -f FIFO succeeded"
grep -q "not a regular file or block device" "$TMP/err" || die "FIFO refused with: $(cat "$TMP/err")"
assert_no_devices
expect_fail "not a regular file or block device" -t loop -f "$TMP/fifo"
id=$(add_dev -t loop -f "$ro" --readonly)
must dd if=/dev/ublkb$id of=/dev/null bs=4k count=4 iflag=direct status=none
dd if=/dev/zero of=/dev/ublkb$id bs=4k count=1 oflag=direct status=none 2>/dev/null && die "write to a read-only device succeeded"
must "$BUBLK" del -n "$id"
assert_no_devices

# the kernel lacks ublk: a clear message, nothing half-created
must rmmod ublk_drv
expect_fail "load the ublk driver" -t loop -f "$TMP/small.img"
modprobe -d "${BUBLK_VM_MODROOT:-/}" ublk_drv || die "cannot load ublk_drv again"
for _ in $(seq 50); do [ -e /dev/ublk-control ] && break; sleep 0.1; done
echo "every bad add was refused with its message and left no device"
