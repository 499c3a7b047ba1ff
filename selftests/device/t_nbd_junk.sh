#!/bin/bash
# Junk from a fake NBD server (selftests/device/nbd_fake_server.py): a
# server that answers the handshake with junk gets a clear bublk add error
# and no device; one that handshakes and then answers every request with a
# bad reply fails those requests with EIO while the same daemon goes on
# serving its other backend, stays alive and is deleted cleanly; a slow
# server holds up only the requests sent to it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nbd_lib.sh"

fake() {	# mode sock [size]
	local sock=$2 i
	python3 "$(dirname "$0")/nbd_fake_server.py" "$@" >"$sock.log" 2>&1 &
	srv_pid=$!
	disown "$srv_pid"
	servers+=("$srv_pid")
	for i in $(seq 300); do
		[ -S "$sock" ] && return 0
		sleep 0.1
	done
	die "the fake NBD server ($1) did not create $sock in 30 s: $(cat "$sock.log")"
}

# 1. junk instead of a handshake
fake junk "$TMP/junk.sock"
if out=$("$BUBLK" add -t loop -f "$(url "$TMP/junk.sock")" 2>&1); then
	die "bublk add accepted a server that speaks junk: $out"
fi
echo "$out" | grep -q "NBD server .*junk.sock.*: cannot connect: .*magic" ||
	die "bublk add's error does not say what is wrong with the server: $out"
assert_no_devices

# 2. a good handshake, then bad replies: linear over a good and a bad export
serve "$TMP/good.sock" memory 16M
fake badreply "$TMP/bad.sock" $((16 << 20))
id=$(add_dev -t linear -f "$(url "$TMP/good.sock"),$(url "$TMP/bad.sock")" -d 16)
dev=/dev/ublkb$id
pid=$(dev_pid "$id")
head -c 1M /dev/urandom >"$TMP/pattern"
must dd if="$TMP/pattern" of="$dev" bs=1M oflag=direct conv=fsync status=none
if dd if="$dev" of=/dev/null bs=4k skip=$((20 << 8)) count=1 iflag=direct status=none 2>/dev/null; then
	die "a read from the server answering junk succeeded"
fi
grep -q "NBD backend 1 .* failed (.*invalid reply magic" "/run/bublk/$id.log" ||
	die "the daemon's log does not say the server's reply was bad: $(cat "/run/bublk/$id.log")"
kill -0 "$pid" 2>/dev/null || die "the daemon died on a bad NBD reply"
# the good backend still serves, from the same daemon, over and over
for _ in 1 2 3; do
	cmp <(dd if="$dev" bs=1M count=1 iflag=direct status=none) "$TMP/pattern" ||
		die "the good backend's data does not read back after the bad server's replies"
	if dd if="$dev" of=/dev/null bs=4k skip=$((24 << 8)) count=1 iflag=direct status=none 2>/dev/null; then
		die "a read from the server answering junk succeeded (after reconnecting)"
	fi
done
must "$BUBLK" del -n "$id"
wait_gone "$pid" "the daemon"
assert_no_devices

# 3. a slow server (every write takes 60 s) beside a fast one, in one daemon
serve "$TMP/fast.sock" memory 16M
serve "$TMP/slow.sock" --filter=delay memory 16M wdelay=60
slow=$srv_pid
id=$(add_dev -t linear -f "$(url "$TMP/fast.sock"),$(url "$TMP/slow.sock")" -d 16)
dev=/dev/ublkb$id
dd if=/dev/zero of="$dev" bs=4k seek=$((20 << 8)) count=1 oflag=direct status=none 2>/dev/null &
slow_dd=$!
# the fast half is written and read back while that write waits on its
# server (no flush: a flush goes to both servers)
must dd if="$TMP/pattern" of="$dev" bs=1M oflag=direct status=none
cmp <(dd if="$dev" bs=1M count=1 iflag=direct status=none) "$TMP/pattern" ||
	die "the fast backend's data does not read back beside a slow one"
kill -0 "$slow_dd" 2>/dev/null ||
	die "the write to the slow server (60 s) finished before the fast backend's I/O: the test tests nothing"
# the slow server goes: its write fails now instead of in a minute
kill -9 "$slow"
wait "$slow_dd" && die "the write to a server killed mid-request succeeded"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "NBD junk: a junk handshake refused with a clear error and no device; bad replies fail their requests with EIO, the daemon keeps serving its good backend and is deleted cleanly; a slow server holds up only its own requests"
