#!/bin/bash
# SIGTERM to a daemon, or SIGINT to "bublk add --foreground", stops and
# deletes the device cleanly: no device node, no state file, no pins, and
# writes made before the signal are in the backing file.
. "$(dirname "$0")/lib.sh"

truncate -s 8M "$TMP/a.img"
head -c 1M /dev/urandom > "$TMP/pat"
gone() {	# id
	for _ in $(seq 100); do
		[ -e "/dev/ublkb$1" ] || [ -e "/dev/ublkc$1" ] || [ -e "/run/bublk/$1.json" ] ||
			[ -e "/sys/fs/bpf/bublk/$1" ] || return 0
		sleep 0.1
	done
	die "dev $1 still has $(ls -d /dev/ublk?$1 /run/bublk/$1.json /sys/fs/bpf/bublk/$1 2>/dev/null | xargs)"
}

id=$(add_dev -t loop -f "$TMP/a.img")
[ -d "/sys/fs/bpf/bublk/$id" ] || die "no pins for dev $id"
must dd if="$TMP/pat" of=/dev/ublkb$id bs=64k oflag=direct status=none
pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "/run/bublk/$id.json")
kill -TERM "$pid"
gone "$id"
# the device's files go before the daemon has finished exiting (and the
# guest's init reaps it later still): wait for the process itself
wait_gone "$pid" "daemon (SIGTERM)"
cmp <(head -c 1M "$TMP/a.img") "$TMP/pat" || die "data written before SIGTERM is not in the file"

"$BUBLK" add --foreground -t loop -f "$TMP/a.img" >"$TMP/fg.out" 2>&1 &
fg=$!
for _ in $(seq 100); do grep -q /dev/ublkb "$TMP/fg.out" && break; sleep 0.1; done
id=$(sed -n 's|.*/dev/ublkb\([0-9]*\).*|\1|p' "$TMP/fg.out" | head -1)
[ -n "$id" ] || die "--foreground printed no device: $(cat "$TMP/fg.out")"
cmp <(dd if=/dev/ublkb$id bs=64k count=16 iflag=direct status=none) "$TMP/pat" || die "read back differs"
kill -INT "$fg"
wait "$fg" || die "bublk add --foreground exited with $? after SIGINT"
gone "$id"
assert_no_devices
echo "SIGTERM (daemon) and SIGINT (--foreground) each deleted the device, state and pins; data kept"
