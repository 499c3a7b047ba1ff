#!/bin/bash
# examples/hello.bpf.o, loaded by path: the device starts 1M into the
# file, data lands there, and its counters map shows the requests.
. "$(dirname "$0")/lib.sh"

obj=$PWD/build/examples/hello.bpf.o
truncate -s 9M "$TMP/disk.img"
id=$(add_dev -t "$obj" -f "$TMP/disk.img" --set skip=1M)
dev=/dev/ublkb$id
[ "$(blockdev --getsize64 "$dev")" = $((8 << 20)) ] || die "size $(blockdev --getsize64 "$dev"), expected 8M"
head -c 256K /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=64k seek=2 oflag=direct status=none
cmp <(dd if="$dev" bs=64k skip=2 count=4 iflag=direct status=none) "$TMP/pat" || die "read back differs"
cmp <(dd if="$TMP/disk.img" bs=64k skip=$((16 + 2)) count=4 status=none) "$TMP/pat" ||
	die "data is not 1M + 128K into the file"
writes=$(bpftool map lookup pinned "/sys/fs/bpf/bublk/$id/hello_counts" key 1 0 0 0 |
	grep -o '"requests": [0-9]*' | grep -o '[0-9]*$')
[ "${writes:-0}" -ge 4 ] || die "hello_counts shows $writes write requests, expected at least 4"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "example target: data 1M into the file, $writes writes counted in hello_counts"
