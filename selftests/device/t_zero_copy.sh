#!/bin/bash
# Zero copy (UBLK_F_AUTO_BUF_REG): the default data mode where the kernel
# has it. The request's pages are read and written by the backends in
# place: loop over 2 queues, stripe, mirror (both legs written from one
# registered buffer), the C twin, and ZERO_FILL (done by reading
# /dev/zero into the request) all give back what was written, and the
# backends hold what the targets said.
. "$(dirname "$0")/lib.sh"
need_feature AUTO_BUF_REG
objs=$PWD/$BUBLK_O

mode_of() {	# id -> data_mode in list --json
	"$BUBLK" list --json | python3 -c "
import json, sys
print([d['data_mode'] for d in json.load(sys.stdin) if d['dev_id'] == $1][0])"
}

fio_verify() {	# dev name [size]
	must fio --name="$2" --filename="$1" --rw=randwrite --bsrange=4k-512k --iodepth=16 \
		--size="${3:-32M}" --direct=1 --ioengine=io_uring --verify=crc32c \
		--verify_state_save=0 --do_verify=1 --verify_fatal=1 --output="$TMP/fio-$2.out"
	grep -q "err= 0" "$TMP/fio-$2.out" || { cat "$TMP/fio-$2.out"; die "fio errors ($2)"; }
}

# loop, default mode: zero copy, 2 queues; the backing file is the device
truncate -s 64M "$TMP/loop.img"
id=$(add_dev -t loop -f "$TMP/loop.img" -q 2)
[ "$(mode_of "$id")" = zero_copy ] || die "default data mode is $(mode_of "$id"), not zero_copy"
# no buffer per request, so requests up to 1 MiB by default (512K in the copy modes)
kb=$(cat "/sys/block/ublkb$id/queue/max_hw_sectors_kb")
[ "$kb" = 1024 ] || die "zero copy: max_hw_sectors_kb is $kb, not 1024"
fio_verify "/dev/ublkb$id" loop
cmp <(dd if="/dev/ublkb$id" bs=1M iflag=direct status=none) "$TMP/loop.img" ||
	die "loop: device and backing file differ"
must "$BUBLK" del -n "$id"
echo "loop: zero_copy by default, fio verify passed, device == backing file"

# forced, with the C twin
id=$(add_dev -t loop -f "$TMP/loop.img" --zero-copy --dispatch=c)
[ "$(mode_of "$id")" = zero_copy ] || die "--zero-copy gave $(mode_of "$id")"
fio_verify "/dev/ublkb$id" loop_c 16M
must "$BUBLK" del -n "$id"
echo "loop --zero-copy --dispatch=c: fio verify passed"

# stripe over 4 files: 64K chunks; chunk c of the device is chunk c/4 of file c%4
for i in 0 1 2 3; do truncate -s 16M "$TMP/s$i.img"; done
id=$(add_dev -t stripe -f "$TMP/s0.img,$TMP/s1.img,$TMP/s2.img,$TMP/s3.img" --chunk 64K)
fio_verify "/dev/ublkb$id" stripe
for c in 0 1 2 3 5 63 255; do
	f=$((c % 4)) at=$((c / 4))
	cmp <(dd if="/dev/ublkb$id" bs=64K skip=$c count=1 iflag=direct status=none) \
		<(dd if="$TMP/s$f.img" bs=64K skip=$at count=1 status=none) ||
		die "stripe: chunk $c is not chunk $at of file $f"
done
must "$BUBLK" del -n "$id"
echo "stripe: fio verify passed, chunks where the target put them"

# mirror: both legs identical to the device
for i in 0 1; do truncate -s 32M "$TMP/m$i.img"; done
id=$(add_dev -t mirror -f "$TMP/m0.img,$TMP/m1.img")
fio_verify "/dev/ublkb$id" mirror 24M
must "$BUBLK" del -n "$id"
cmp "$TMP/m0.img" "$TMP/m1.img" || die "mirror: legs differ"
echo "mirror: fio verify passed, legs identical"

# ZERO_FILL: zfdelay zero-fills reads at or past 1 MiB (no delay set)
head -c 4M /dev/urandom >"$TMP/zf.img"
id=$(add_dev -t "$objs/selftests/targets/zfdelay.bpf.o" -f "$TMP/zf.img")
cmp <(dd if="/dev/ublkb$id" bs=1M count=1 iflag=direct status=none) <(head -c 1M "$TMP/zf.img") ||
	die "zfdelay: the first MiB is not the file's"
cmp <(dd if="/dev/ublkb$id" bs=64K skip=16 count=48 iflag=direct status=none) \
	<(head -c 3M /dev/zero) || die "zfdelay: reads past 1 MiB are not zero-filled"
must "$BUBLK" del -n "$id"

# an O_DIRECT block-device backend that needs more memory alignment than
# ublk's default (a kernel loop device: 511): the device asks the same of
# its clients, so a misaligned O_DIRECT buffer is refused at once with
# EINVAL (instead of failing with EIO at the backend), aligned I/O serves
need_module loop
head -c 16M /dev/urandom >"$TMP/kl.img"
kl=$(losetup -f --show "$TMP/kl.img") || die "losetup failed"
want=$(cat "/sys/block/${kl#/dev/}/queue/dma_alignment")
[ "$want" -gt 3 ] || { losetup -d "$kl"; die "$kl asks for dma_alignment $want: no test"; }
id=$(add_dev -t loop -f "$kl")
got=$(cat "/sys/block/ublkb$id/queue/dma_alignment")
# and requests no bigger in segments than the backend takes
for lim in max_segments max_segment_size; do
	b=$(cat "/sys/block/${kl#/dev/}/queue/$lim") u=$(cat "/sys/block/ublkb$id/queue/$lim")
	[ "$u" -le "$b" ] || { losetup -d "$kl"; die "device $lim $u, above backend $kl's $b"; }
done
segs="$(cat "/sys/block/ublkb$id/queue/max_segments") x $(cat "/sys/block/ublkb$id/queue/max_segment_size")"
python3 - "/dev/ublkb$id" "$TMP/kl.img" <<'PY' || { losetup -d "$kl"; die "O_DIRECT through an aligned-DMA backend: see above"; }
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
want = open(sys.argv[2], "rb").read(8192)
buf = mmap.mmap(-1, 3 * 4096)
try:
    os.preadv(fd, [memoryview(buf)[8:8 + 4096]], 4096)
    sys.exit("a read into a buffer aligned to 8 bytes was accepted")
except OSError as e:
    if e.errno != errno.EINVAL:
        sys.exit("misaligned read: %s, not EINVAL" % e)
n = os.preadv(fd, [memoryview(buf)[4096:8192]], 4096)
if n != 4096 or buf[4096:8192] != want[4096:8192]:
    sys.exit("aligned read returned other data")
PY
must "$BUBLK" del -n "$id"
losetup -d "$kl"
[ "$got" = "$want" ] || die "device dma_alignment $got, backend $kl's $want"
echo "O_DIRECT backend $kl: dma_alignment $want and at most $segs-byte segments asked of clients, misaligned read refused (EINVAL), aligned read served"
assert_no_devices
echo "zero copy: loop (default, 2 queues, C twin), stripe, mirror, ZERO_FILL and a DMA-aligned block device give back what was written"
