#!/bin/bash
# bublk recover rebuilds a device as it was created: a 4096-byte-block,
# rotational, read-only, 2-queue stripe with a non-default depth, I/O size,
# data mode and chunk, over files whose names hold spaces, quotes, a
# backslash and non-ASCII. "bublk list --json" says the same before the
# daemon is killed and after the new one took over (but the pid and the
# BPF object ids), the kernel's view of the disk is unchanged, and the
# data reads back as the files hold it. A state file over the size limit
# is refused as such, not reported missing.
. "$(dirname "$0")/lib.sh"

dir="$TMP/dir with \"quotes\" and spaces"
mkdir -p "$dir"
f1="$dir/leg 'one' \"a\".img"
f2="$dir/leg\\two é.img"
head -c $((8 << 20)) /dev/urandom > "$f1"
head -c $((8 << 20)) /dev/urandom > "$f2"

id=$(add_dev -t stripe -f "$f1" -f "$f2" --set chunk=32K --block-size 4096 --rotational \
	--readonly -q 2 -d 48 --max-io 256K --copy --recovery)
dev=/dev/ublkb$id
blk=/sys/block/ublkb$id

# what the kernel shows of the disk (unchanged by a recovery, but checked both times)
disk_view() {
	echo "ss=$(blockdev --getss "$dev") ro=$(blockdev --getro "$dev") size=$(blockdev --getsize64 "$dev")" \
		"rot=$(cat "$blk/queue/rotational") hwq=$(ls "$blk/mq" | wc -l) max=$(cat "$blk/queue/max_hw_sectors_kb")"
}

# the device's bytes against the stripe layout: chunk c on file c % 2 at (c / 2) * 32K
check_data() {	# when
	dd if="$dev" of="$TMP/dev.bin" bs=1M iflag=direct status=none || die "$1: reading $dev failed"
	python3 - "$TMP/dev.bin" "$f1" "$f2" <<'PY' || die "$1: the device does not read as the files hold it"
import sys
chunk = 32 << 10
dev = open(sys.argv[1], "rb").read()
legs = [open(p, "rb").read() for p in sys.argv[2:]]
assert len(dev) == 16 << 20, len(dev)
for c in range(len(dev) // chunk):
    want = legs[c % 2][(c // 2) * chunk:(c // 2 + 1) * chunk]
    assert dev[c * chunk:(c + 1) * chunk] == want, "chunk %d differs" % c
PY
}

view_before=$(disk_view)
case "$view_before" in
"ss=4096 ro=1 size=$((16 << 20)) rot=1 hwq=2 max=256") ;;
*) die "the disk is not what was asked for: $view_before" ;;
esac
check_data "before the crash"
"$BUBLK" list --json > "$TMP/before.json" || die "bublk list --json failed"
pid=$(dev_pid "$id")
[ -n "$pid" ] || die "no pid in /run/bublk/$id.json: $(cat "/run/bublk/$id.json")"

kill -9 "$pid"
wait_gone "$pid" "killed daemon"
must "$BUBLK" recover -n "$id"
"$BUBLK" list --json > "$TMP/after.json" || die "bublk list --json failed after recover"

python3 - "$TMP/before.json" "$TMP/after.json" "$id" "$f1" "$f2" <<'PY' || die "bublk list --json changed across the recovery"
import json, sys
before, after, dev_id = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
b = [d for d in before if d["dev_id"] == dev_id][0]
a = [d for d in after if d["dev_id"] == dev_id][0]
bad = []
# what was asked for, in the file
want = {"block_size": 4096, "rotational": True, "readonly": True, "queues": 2, "depth": 48,
        "max_io_bytes": 256 << 10, "data_mode": "copy", "recovery": True, "target": "stripe",
        "options": ["chunk=32K"], "alive": True,
        "backends": [sys.argv[4], sys.argv[5]]}
for k, v in want.items():
    got = [x["path"] for x in b[k]] if k == "backends" else b[k]
    if got != v:
        bad.append("before: %s is %r, asked for %r" % (k, got, v))
# field by field: only the pid and the new programs' and maps' ids may change
for k in sorted(set(b) | set(a)):
    if k in ("pid", "bpf"):
        continue
    if b.get(k) != a.get(k):
        bad.append("%s: %r before, %r after" % (k, b.get(k), a.get(k)))
if a["pid"] == b["pid"]:
    bad.append("pid %d: still the killed daemon's" % a["pid"])
if a["bpf"]["pin_dir"] != b["bpf"]["pin_dir"]:
    bad.append("pin_dir: %r before, %r after" % (b["bpf"]["pin_dir"], a["bpf"]["pin_dir"]))
for part in ("programs", "maps"):
    if sorted(a["bpf"][part]) != sorted(b["bpf"][part]):
        bad.append("bpf %s: %s before, %s after" % (part, sorted(b["bpf"][part]), sorted(a["bpf"][part])))
for m in bad:
    print("  " + m)
sys.exit(1 if bad else 0)
PY

view_after=$(disk_view)
[ "$view_after" = "$view_before" ] || die "the disk changed: $view_before before, $view_after after"
check_data "after the recovery"

# a state file over the limit is named with its size, not reported missing
big=$((id + 1000))
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' > "/run/bublk/$big.json"
out=$("$BUBLK" recover -n "$big" 2>&1) && { rm -f "/run/bublk/$big.json"; die "recover of a 2 MiB state file succeeded: $out"; }
rm -f "/run/bublk/$big.json"
case "$out" in
*"/run/bublk/$big.json is $((2 << 20)) bytes, more than the $((1 << 20)) limit"*) ;;
*) die "recover of a 2 MiB state file: \"$out\"" ;;
esac

must "$BUBLK" del -n "$id"
assert_no_devices
echo "daemon $pid killed; recovered with every field of list --json the same, 4K blocks, read-only, rotational, 2 queues; data intact"
