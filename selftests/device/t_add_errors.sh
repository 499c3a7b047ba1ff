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
expect_fail "give the size with --size" -t null
expect_fail "no such target object" -t nosuchtarget --size 1M
echo garbage > "$TMP/bad.bpf.o"
expect_fail "not a loadable BPF object" -t "$TMP/bad.bpf.o" --size 1M
expect_fail "bad --size" -t null --size 12Q
expect_fail "queues must be" -t null --size 1M -q 0
: > "$TMP/empty.img"
expect_fail "size is 0" -t loop -f "$TMP/empty.img"
echo "every bad add was refused with its message and left no device"
