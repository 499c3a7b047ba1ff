#!/bin/bash
# NBD backends (docs/nbd.md), servers (nbdkit) on unix sockets in the VM only:
# loop over an nbdkit memory export (fio verify on 2 queues, ext4 + fsck);
# stripe over four nbdkit file exports, layout checked on the files; mirror
# over two servers, one killed mid-fio: fio passes, the leg is marked failed;
# refusals (no server, unknown export, read-only export, bad address,
# --zero-copy) give a clear bublk add error and leave no device.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nbd_lib.sh"

# 1. loop over one nbdkit memory export, a connection per queue
serve "$TMP/mem.sock" memory 64M
id=$(add_dev -t loop -f "$(url "$TMP/mem.sock")" -q 2 -d 32)
dev=/dev/ublkb$id
[ "$(blockdev --getsize64 "$dev")" = $((64 << 20)) ] || die "size $(blockdev --getsize64 "$dev"), not the export's 64 MiB"
"$BUBLK" list --json | tr -d '\n' | grep -q "\"dev_id\": $id,[^}]*\"data_mode\": \"user_copy\"" ||
	die "an NBD device does not run user copy: $("$BUBLK" list --json)"
fio_verify "$dev" loop || { cat "$TMP/loop.out"; die "fio verify failed on loop over NBD"; }
grep -q "err= 0" "$TMP/loop.out" || { cat "$TMP/loop.out"; die "fio errors on loop over NBD"; }
need_module ext4
mnt=$TMP/mnt
mkdir -p "$mnt"
must mkfs.ext4 -q -F "$dev"
must mount "$dev" "$mnt"
for i in 1 2 3; do
	head -c $((i * 500000)) /dev/urandom > "$mnt/file$i"
done
(cd "$mnt" && md5sum file*) > "$TMP/sums"
must umount "$mnt"
must fsck.ext4 -fn "$dev"
must mount "$dev" "$mnt"
(cd "$mnt" && md5sum -c --quiet "$TMP/sums") || die "files differ after remount on NBD"
must umount "$mnt"
must "$BUBLK" del -n "$id"
echo "loop over nbdkit memory: fio verify on 2 queues, ext4 + fsck clean"

# 2. stripe over four nbdkit file exports: chunk c on export c % 4 at (c / 4) * 64K
N=4
CHUNK=$((64 << 10))
files=""
for i in $(seq 0 $((N - 1))); do
	truncate -s 16M "$TMP/leg$i.img"
	serve "$TMP/s$i.sock" file "$TMP/leg$i.img"
	files="$files${files:+,}$(url "$TMP/s$i.sock")"
done
id=$(add_dev -t stripe -f "$files" --chunk 64K -q 2 -d 32)
dev=/dev/ublkb$id
[ "$(blockdev --getsize64 "$dev")" = $((N * 16 << 20)) ] || die "stripe size $(blockdev --getsize64 "$dev")"
fio_verify "$dev" stripe --bsrange=4k-512k || { cat "$TMP/stripe.out"; die "fio verify failed on stripe over NBD"; }
head -c $((8 << 20)) /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=4k seek=1 oflag=direct status=none
must "$BUBLK" del -n "$id"
img=$TMP/device-view
dd if=/dev/zero of="$img" bs=4k count=1 status=none
cat "$TMP/pat" >> "$img"
pieces=$(python3 "$(dirname "$0")/layout.py" stripe "$img" $CHUNK 4096 $((4096 + (8 << 20))) \
	"$TMP"/leg0.img "$TMP"/leg1.img "$TMP"/leg2.img "$TMP"/leg3.img) || die "stripe layout over NBD wrong"
echo "stripe over 4 nbdkit file exports: fio verify, $pieces chunk pieces where the target put them"

# 3. mirror over two servers; server 0 is killed mid-fio
truncate -s 32M "$TMP/m0.img" "$TMP/m1.img"
serve "$TMP/m0.sock" file "$TMP/m0.img"
m0_pid=$srv_pid
serve "$TMP/m1.sock" file "$TMP/m1.img"
id=$(add_dev -t mirror -f "$(url "$TMP/m0.sock"),$(url "$TMP/m1.sock")" -d 32)
dev=/dev/ublkb$id
legs=/sys/fs/bpf/bublk/$id/mirror_legs
fio_verify "$dev" failover --size=32M --io_size=64M &
fio_pid=$!
# mid-fio: once the device has completed some writes (its block-layer counters)
for _ in $(seq 600); do
	[ "$(awk '{ print $5 }' "/sys/block/ublkb$id/stat")" -ge 64 ] && break
	kill -0 $fio_pid 2>/dev/null || break
	sleep 0.1
done
kill -0 $fio_pid 2>/dev/null || die "fio finished before the server was killed: the test would not test failover"
writes_before=$(awk '{ print $5 }' "/sys/block/ublkb$id/stat")
kill -9 "$m0_pid"
wait $fio_pid || { cat "$TMP/failover.out"; die "fio failed while one mirror leg survived"; }
grep -q "err= 0" "$TMP/failover.out" || { cat "$TMP/failover.out"; die "fio saw errors"; }
failed0=$(bpftool map lookup pinned "$legs" key 0 0 0 0 | grep -o '"failed": [0-9]*' | grep -o '[0-9]*$')
failed1=$(bpftool map lookup pinned "$legs" key 1 0 0 0 | grep -o '"failed": [0-9]*' | grep -o '[0-9]*$')
[ "$failed0" = 1 ] && [ "$failed1" = 0 ] || die "mirror_legs: leg 0 failed=$failed0, leg 1 failed=$failed1"
grep -q "NBD backend 0 .* failed" "/run/bublk/$id.log" || die "the daemon's log does not name the lost server: $(cat "/run/bublk/$id.log")"
# the device still reads, from the surviving leg
must fio --name=reread --filename="$dev" --rw=read --bs=64k --direct=1 --ioengine=io_uring \
	--size=32M --output="$TMP/reread.out"
must "$BUBLK" del -n "$id"
echo "mirror over 2 nbdkit servers: server 0 killed after $writes_before writes, fio verify passed, leg 0 marked failed"

# 4. a server without FUA and WRITE_ZEROES: FUA writes become write + flush,
# write-zeroes fails that segment with EOPNOTSUPP and the block layer writes
# zeros instead; the data is right either way
# (both filters hide the feature by default)
serve "$TMP/plain.sock" --filter=nozero --filter=fua memory 32M
id=$(add_dev -t loop -f "$(url "$TMP/plain.sock")" -d 16)
dev=/dev/ublkb$id
fio_verify "$dev" fua --sync=1 --io_size=8M || { cat "$TMP/fua.out"; die "fio verify with O_SYNC (FUA) failed"; }
must blkdiscard -z -o 1M -l 1M "$dev"
[ "$(dd if="$dev" bs=1M skip=1 count=1 iflag=direct status=none | tr -d '\0' | wc -c)" = 0 ] ||
	die "1 MiB zeroed on a server without WRITE_ZEROES does not read back as zeros"
must "$BUBLK" del -n "$id"
echo "server without FUA or WRITE_ZEROES: FUA writes verified, zeroing falls back and reads as zeros"

# 5. refusals: a clear error from bublk add and no device
refused() {	# expected-message add-args...
	local want=$1
	shift
	"$BUBLK" add "$@" >"$TMP/add.out" 2>"$TMP/add.err" && die "bublk add $* succeeded: $(cat "$TMP/add.out")"
	grep -q -- "$want" "$TMP/add.err" || die "bublk add $* said \"$(cat "$TMP/add.err")\", not \"$want\""
	assert_no_devices
}
refused "cannot connect" -t loop -f "$(url "$TMP/nobody.sock")"
serve "$TMP/named.sock" --filter=exportname memory 16M exportname=good exportname-strict=true
refused "has no export \"bad\"" -t loop -f "$(url "$TMP/named.sock" bad)"
serve "$TMP/ro.sock" -r memory 16M
refused "read-only on its server: add --readonly" -t loop -f "$(url "$TMP/ro.sock")"
refused "no host" -t loop -f "nbd:///disk"
refused "needs ?socket=PATH" -t mirror -f "$TMP/m1.img,nbd+unix:///x"
refused "zero-copy cannot serve NBD" -t loop -f "$(url "$TMP/mem.sock")" --zero-copy
# the named export and a read-only one with --readonly do serve, mixed with a file
id=$(add_dev -t mirror -f "$TMP/m1.img,$(url "$TMP/named.sock" good)")
must dd if=/dev/urandom of="$TMP/blk" bs=64k count=4 status=none
must dd if="$TMP/blk" of="/dev/ublkb$id" bs=64k oflag=direct status=none
cmp -s "$TMP/blk" <(head -c $((256 << 10)) "$TMP/m1.img") || die "the file leg of a file+NBD mirror lacks the data"
must "$BUBLK" del -n "$id"
id=$(add_dev -t loop -f "$(url "$TMP/ro.sock")" --readonly)
must dd if="/dev/ublkb$id" of=/dev/null bs=64k count=16 iflag=direct status=none
must "$BUBLK" del -n "$id"
assert_no_devices
echo "NBD: loop (fio, ext4), stripe layout, mirror failover, refusals clear and leave no device"
