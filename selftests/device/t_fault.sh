#!/bin/bash
# fault target: rules in the pinned map fault_rules, changed live with
# bpftool, fail exactly the requests they cover; a delay rule delays.
. "$(dirname "$0")/lib.sh"

truncate -s 16M "$TMP/f.img"
id=$(add_dev -t fault -f "$TMP/f.img")
dev=/dev/ublkb$id
rules=/sys/fs/bpf/bublk/$id/fault_rules
[ -e "$rules" ] || die "$rules is not pinned"
# no rule: a plain disk
must fio --name=fault --filename="$dev" --rw=randwrite --bsrange=4k-128k --iodepth=16 --direct=1 \
	--ioengine=io_uring --io_size=16M --verify=crc32c --verify_state_save=0 --do_verify=1 \
	--verify_fatal=1 --output="$TMP/fio.out"
grep -q "err= 0" "$TMP/fio.out" || { cat "$TMP/fio.out"; die "fio errors without rules"; }
head -c $((4 << 20)) /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=1M oflag=direct status=none

# rule value bytes: ops err start end every delay_us (matched, hits zeroed)
u32() { printf '%d %d %d %d ' $(($1 & 255)) $((($1 >> 8) & 255)) $((($1 >> 16) & 255)) $((($1 >> 24) & 255)); }
u64() { u32 $(($1 & 0xffffffff)); u32 $(($1 >> 32)); }
set_rule() {	# idx ops err start end every delay_us
	must bpftool map update pinned "$rules" key $(u32 "$1") \
		value $(u32 "$2") $(u32 "$3") $(u64 "$4") $(u64 "$5") $(u32 "$6") $(u32 "$7") $(u64 0) $(u64 0)
}
rd() { dd if="$dev" of=/dev/null bs=4k skip="$1" count=1 iflag=direct status=none 2>"$TMP/dd.err"; }

# reads of sectors [2048, 4096) fail with EIO: 4K blocks 256..511
set_rule 0 1 5 2048 4096 0 0
rd 255 || die "read of block 255 (sectors 2040-2047) failed; the rule starts at 2048"
rd 256 && die "read of block 256 (sector 2048) succeeded under the rule"
grep -q "Input/output error" "$TMP/dd.err" || die "wrong error: $(cat "$TMP/dd.err")"
rd 511 && die "read of block 511 succeeded under the rule"
rd 512 || die "read of block 512 (sector 4096) failed; the rule ends there"
# writes are not covered: they still land
must dd if="$TMP/pat" of="$dev" bs=4k seek=300 skip=300 count=1 oflag=direct status=none
hits=$(bpftool map dump pinned "$rules" | grep -m1 -o '"hits": [0-9]*' | grep -o '[0-9]*$')
[ "$hits" = 2 ] || die "rule 0 counted $hits hits, expected 2"

# every second write anywhere fails with ENOSPC; reads pass again
set_rule 0 2 28 0 0 2 0
fails=0
for i in 1 2 3 4; do
	dd if="$TMP/pat" of="$dev" bs=4k seek=$i skip=$i count=1 oflag=direct status=none 2>"$TMP/dd.err" ||
		{ grep -q "No space left" "$TMP/dd.err" || die "wrong error: $(cat "$TMP/dd.err")"; fails=$((fails + 1)); }
done
[ $fails = 2 ] || die "$fails of 4 writes failed, expected every second one (2)"
rd 256 || die "reads still fail after the rule changed"

# a delay rule: a write takes at least the delay
set_rule 0 2 0 0 0 0 300000
start=$(date +%s%N)
must dd if="$TMP/pat" of="$dev" bs=4k count=1 oflag=direct status=none
took=$((($(date +%s%N) - start) / 1000000))
[ $took -ge 300 ] || die "a write under a 300 ms delay rule took $took ms"

# no rule: everything reads back as written
set_rule 0 0 0 0 0 0 0
cmp <(dd if="$dev" bs=1M count=4 iflag=direct status=none) "$TMP/pat" || die "data differs after the faults"
must "$BUBLK" del -n "$id"
[ ! -e "/sys/fs/bpf/bublk/$id" ] || die "pins left after del"
assert_no_devices
echo "fio verify passed; EIO on exactly sectors 2048-4095 after a live bpftool update; every 2nd write ENOSPC; ${took} ms delay; data intact"
