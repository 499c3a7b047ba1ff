#!/bin/bash
# bublk's UBLK_F_SHMEM_ZC path, against the test module (run by
# selftests/kmod/vm-tests.sh) or a stock 7.1+ driver (through
# selftests/device/t_shmem_zc_stock.sh): fio from a hugetlbfs buffer the daemon
# registered (--htlb) is served zero copy on loop and stripe with verify
# passing; fio from ordinary memory is served by copying; the example
# client shares a memfd over the socket and checks its data; malformed
# socket input is refused and the device keeps serving. Vectored requests
# over two memfds are zero copy only with the test module's scatter/gather
# hook; on a stock driver they are copied.
. "$(dirname "$0")/../device/lib.sh"

need() { command -v "$1" >/dev/null || die "$1 is missing"; }
need fio
echo 16 > /proc/sys/vm/nr_hugepages
htlb=/dev/hugepages/bublk-zc
grep -q " /dev/hugepages hugetlbfs" /proc/mounts || die "no hugetlbfs at /dev/hugepages"
fallocate -l 8M "$htlb" || die "cannot allocate 8M of huge pages"
trap 'rm -f "$htlb"; cleanup' EXIT

zc() {	# id field -> stats.shmem.field
	"$BUBLK" stats -n "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['shmem']['$2'])"
}
fio_zc() {	# dev name [fio args]
	local dev=$1 name=$2
	shift 2
	fio --name="$name" --filename="$dev" --rw=randwrite --bsrange=4k-64k --iodepth=8 --direct=1 \
		--ioengine=io_uring --size=32M --verify=crc32c --verify_state_save=0 --do_verify=1 \
		--verify_fatal=1 --output="$TMP/$name.out" "$@" || { cat "$TMP/$name.out"; die "fio $name failed"; }
	grep -q "err= 0" "$TMP/$name.out" || die "fio $name saw errors"
}
# nearly every data request of the run was zero copy: zc >= 95% of all
check_zc() {	# id what
	local z c
	z=$(zc "$1" zc_reqs); c=$(zc "$1" copy_reqs)
	[ "$z" -gt 0 ] && [ $((z * 100)) -ge $(((z + c) * 95)) ] ||
		die "$2: only $z of $((z + c)) requests were zero copy"
	echo "$2: $z zero-copy, $c copied"
}

truncate -s 64M "$TMP/disk.img"
id=$(add_dev -t loop -f "$TMP/disk.img" --shmem-zc --htlb "$htlb" -q 2 -d 32)
fio_zc /dev/ublkb$id loop --mem=mmaphuge:"$htlb"
loop_line=$(check_zc "$id" loop)

# ordinary buffers on the same device: every request copied, none zero copy
z0=$(zc "$id" zc_reqs); c0=$(zc "$id" copy_reqs)
fio_zc /dev/ublkb$id plain --size=8M
z1=$(zc "$id" zc_reqs); c1=$(zc "$id" copy_reqs)
[ "$z1" = "$z0" ] && [ $((c1 - c0)) -gt 0 ] || die "ordinary buffers: zc $z0 -> $z1, copied $c0 -> $c1"

# the example client: memfds over /run/ublk/ublkb$id.sock, data checked;
# its vectored requests (half in each of two memfds) are scattered zero
# copy through the BPF-built iov (the test module only: upstream has no hook)
sg_hook=0
bpftool btf dump file /sys/kernel/btf/ublk_drv 2>/dev/null | grep -q "STRUCT 'bublk_sg_ops'" && sg_hook=1
if [ $sg_hook = 1 ]; then
	grep -q '"shmem_sg_hook": true' "/run/bublk/$id.json" || die "sg hook not attached: $(cat "/run/bublk/$id.json")"
fi
z0=$(zc "$id" zc_reqs); s0=$(zc "$id" sg_reqs); c0=$(zc "$id" copy_reqs)
out=$("$BUBLK_O"/examples/shmem_client "$id" 4) || die "shmem_client: $out"
z1=$(zc "$id" zc_reqs); s1=$(zc "$id" sg_reqs); c1=$(zc "$id" copy_reqs)
[ $((z1 - z0 - (s1 - s0))) -ge 128 ] || die "shmem_client's 128 requests from one memfd were not zero copy ($((z1 - z0 - s1 + s0)))"
if [ $sg_hook = 1 ]; then
	[ $((s1 - s0)) -ge 128 ] || die "shmem_client's 128 vectored requests over two memfds: only $((s1 - s0)) scattered zero copy"
else
	[ $((s1 - s0)) = 0 ] && [ $((c1 - c0)) -ge 128 ] ||
		die "stock driver: vectored requests should be copied (scattered $((s1 - s0)), copied $((c1 - c0)))"
fi

# malformed socket input: refused with an errno, the device keeps serving
python3 - "/run/ublk/ublkb$id.sock" <<'PY' || die "malformed socket input was not refused as expected"
import fcntl, os, socket, struct, sys
path = sys.argv[1]
def ask(fds, data=b"x"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if fds:
        socket.send_fds(s, [data], fds)
    else:
        s.send(data)
    r = s.recv(4)
    s.close()
    return struct.unpack("i", r)[0] if len(r) == 4 else None
def memfd(size):
    # sealed against shrinking as the daemon requires, so that each case
    # is refused for its own fault, not for a missing seal
    fd = os.memfd_create("t", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
    return fd
cases = {
    "no fd": ask([]),
    "not a memfd": ask([os.open("/etc/hostname", os.O_RDONLY)]),
    "size zero": ask([memfd(0)]),
    "not page aligned": ask([memfd(4097)]),
    "too large": ask([memfd(5 << 30)]),
    "two fds": ask([memfd(4096), memfd(4096)]),
}
bad = {k: v for k, v in cases.items() if v is None or v >= 0}
print(cases)
sys.exit(1 if bad else 0)
PY
# a non-root peer cannot even connect (the socket is root-only)
setpriv --reuid=65534 --regid=65534 --clear-groups python3 -c "
import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/ublk/ublkb$id.sock')" 2>/dev/null &&
	die "a non-root process could connect to the shared-memory socket"
out=$("$BUBLK_O"/examples/shmem_client "$id" 1) || die "after malformed input the device no longer serves: $out"
must "$BUBLK" del -n "$id"
[ ! -e "/run/ublk/ublkb$id.sock" ] || die "socket left after del"

# stripe over 4 legs, same buffer
files=""
for i in 0 1 2 3; do truncate -s 16M "$TMP/leg$i.img"; files="$files${files:+,}$TMP/leg$i.img"; done
id=$(add_dev -t stripe -f "$files" --chunk 64K --shmem-zc --htlb "$htlb")
fio_zc /dev/ublkb$id stripe --mem=mmaphuge:"$htlb"
stripe_line=$(check_zc "$id" stripe)
must "$BUBLK" del -n "$id"
assert_no_devices
if [ $sg_hook = 1 ]; then
	vec="$((s1 - s0)) scattered zc"
else
	vec="vectored requests copied (no sg hook: stock driver)"
fi
echo "$loop_line; $stripe_line; ordinary buffers copied; memfd client ok, $vec; 6 malformed inputs refused"
