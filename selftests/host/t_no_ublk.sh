#!/bin/bash
# On a machine without the ublk driver (this host), add fails at once with
# a message that says what to do, and a non-zero exit.
set -u
if [ -e /dev/ublk-control ]; then
	echo "ok no_ublk: skipped, this machine has ublk (the VM test covers it)"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
truncate -s 1M "$tmp/a.img"
if build/bublk add -t loop -f "$tmp/a.img" >"$tmp/out" 2>&1; then
	echo "not ok no_ublk: add succeeded without a ublk driver"
	exit 1
fi
grep -q "/dev/ublk-control does not exist: load the ublk driver" "$tmp/out" ||
	{ echo "not ok no_ublk: message: $(cat "$tmp/out")"; exit 1; }
echo "ok no_ublk: $(cat "$tmp/out")"
