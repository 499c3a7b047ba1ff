#!/bin/bash
# An NBD server that goes away and comes back (docs/nbd.md): with the
# server killed, every queue notices at once, I/O fails fast with EIO and
# bublk stats says the backend is down; a server that comes back with
# another export (wrong size) is not used; once the right one is back on
# the same socket each queue reconnects on its own, the data written before
# reads back unchanged, fio verify passes; the log, bublk stats and
# bublk list --json say what happened. Then the same over TCP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nbd_lib.sh"

# backend 0's connections: "QUEUES_CONNECTED LOST RECONNECTS" from bublk stats --json
nbd0() {
	"$BUBLK" stats -n "$id" --json | tr -d ' ' |
		sed -n 's/.*"nbd":\[{"backend":0,"queues_connected":\([0-9]*\),"queues":[0-9]*,"lost":\([0-9]*\),"reconnects":\([0-9]*\)}.*/\1 \2 \3/p'
}
# backend 0's "connection" in bublk list --json: "STATE QUEUES_CONNECTED LOST RECONNECTS"
list0() {
	"$BUBLK" list --json | python3 -c "
import json, sys
d = [x for x in json.load(sys.stdin) if x['dev_id'] == $id][0]
c = d['backends'][0]['connection']
print(c['state'], c['queues_connected'], c['lost'], c['reconnects'])"
}
# wait until nbd0 prints $1: up to 60 s by the clock (the retry backoff
# tops out at 5 s; a loaded TCG guest runs bublk stats slowly)
wait_nbd0() {	# want what
	local until=$((SECONDS + 60))
	while [ "$(nbd0)" != "$1" ]; do
		[ $SECONDS -lt $until ] ||
			die "$2: bublk stats says \"$(nbd0)\" (connected lost regained), not \"$1\" after 60 s: $(cat "/run/bublk/$id.log")"
		sleep 0.2
	done
}

truncate -s 16M "$TMP/r.img"
serve "$TMP/r.sock" file "$TMP/r.img"
srv=$srv_pid
id=$(add_dev -t loop -f "$(url "$TMP/r.sock")" -q 2 -d 16)
dev=/dev/ublkb$id
wait_nbd0 "2 0 0" "a new device"
[ "$(list0)" = "up 2 0 0" ] || die "bublk list --json: backend 0's connection is \"$(list0)\", not up on 2 queues"
head -c 4M /dev/urandom >"$TMP/pattern"
must dd if="$TMP/pattern" of="$dev" bs=1M oflag=direct conv=fsync status=none

# the server goes: both queues see their connection end, without any I/O
kill -9 "$srv"
wait_gone "$srv" nbdkit
wait_nbd0 "0 2 0" "server killed"
[ "$(list0)" = "down 0 2 0" ] || die "bublk list --json: backend 0's connection is \"$(list0)\" with its server gone"
grep -q "NBD backend 0 .* failed .*reconnecting" "/run/bublk/$id.log" ||
	die "the log does not say the server was lost: $(cat "/run/bublk/$id.log")"
# I/O fails fast while it is away (no hang: this read is answered at once)
if dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
	die "a read succeeded with the NBD server gone"
fi

# a server with another export on the same socket is refused, and says so
rm -f "$TMP/r.sock"
truncate -s 8M "$TMP/other.img"
serve "$TMP/r.sock" file "$TMP/other.img"
srv=$srv_pid
until=$((SECONDS + 60))
while ! grep -q "serves another export" "/run/bublk/$id.log" && [ $SECONDS -lt $until ]; do
	sleep 0.2
done
grep -q "serves another export" "/run/bublk/$id.log" ||
	die "a server with an 8 MiB export was not refused in 60 s: $(cat "/run/bublk/$id.log")"
[ "$(nbd0)" = "0 2 0" ] || die "after the wrong export, bublk stats says $(nbd0)"
kill "$srv"
wait_gone "$srv" nbdkit

# the right one comes back: each queue reconnects, the data is there
rm -f "$TMP/r.sock"
serve "$TMP/r.sock" file "$TMP/r.img"
wait_nbd0 "2 2 2" "server back"
[ "$(list0)" = "up 2 2 2" ] || die "bublk list --json: backend 0's connection is \"$(list0)\" with its server back"
grep -q "NBD backend 0 .* is back after" "/run/bublk/$id.log" ||
	die "the log does not say the server is back: $(cat "/run/bublk/$id.log")"
cmp <(dd if="$dev" bs=1M count=4 iflag=direct status=none) "$TMP/pattern" ||
	die "data written before the server went away does not read back"
fio_verify "$dev" reconnect || { cat "$TMP/reconnect.out"; die "fio verify failed after the reconnection"; }
"$BUBLK" stats -n "$id" | grep -q "NBD backend 0: up, connected on 2 of 2 queues; connections lost 2, regained 2" ||
	die "bublk stats does not show the backend up again: $("$BUBLK" stats -n "$id")"
must "$BUBLK" del -n "$id"

# the same over TCP (nbd://HOST:PORT/): connect, lose the server, get it back
serve_tcp 10809 file "$TMP/r.img"
srv=$srv_pid
id=$(add_dev -t loop -f nbd://127.0.0.1:10809/ -q 2 -d 16)
dev=/dev/ublkb$id
wait_nbd0 "2 0 0" "a device over TCP"
# fio wrote over the pattern: the device reads what the export's file holds
cmp <(dd if="$dev" bs=1M count=4 iflag=direct status=none) <(head -c 4M "$TMP/r.img") ||
	die "over TCP the device does not read what the export's file holds"
kill -9 "$srv"
wait_gone "$srv" nbdkit
wait_nbd0 "0 2 0" "TCP server killed"
if dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
	die "a read succeeded with the TCP NBD server gone"
fi
serve_tcp 10809 file "$TMP/r.img"
wait_nbd0 "2 2 2" "TCP server back"
fio_verify "$dev" reconnect-tcp || { cat "$TMP/reconnect-tcp.out"; die "fio verify failed after the TCP reconnection"; }
must "$BUBLK" del -n "$id"
echo "NBD server killed and restarted, on a unix socket and on TCP: I/O failed fast while it was away, a wrong export was refused, both queues reconnected, data intact, fio verify passed"
