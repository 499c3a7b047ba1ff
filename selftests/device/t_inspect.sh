#!/bin/bash
# Inspecting a live device: pinned programs and maps with bpftool, the
# counters (bpftool and bublk stats) equal the I/O just done, bublk trace
# shows the segments the target chose, list --json names the BPF ids.
. "$(dirname "$0")/lib.sh"

files=""
for i in 0 1 2 3; do truncate -s 16M "$TMP/leg$i.img"; files="$files${files:+,}$TMP/leg$i.img"; done
id=$(add_dev -t stripe -f "$files" --chunk 64K -q 1)
dev=/dev/ublkb$id
pins=/sys/fs/bpf/bublk/$id
bpftool prog show pinned "$pins/bublk_dispatch" | grep -q "syscall.*name bublk_dispatch" ||
	die "bpftool prog show: $(bpftool prog show pinned "$pins/bublk_dispatch" 2>&1)"
bpftool map dump pinned "$pins/bublk_config" | grep -q '"chunk": 65536' || die "bublk_config does not show chunk 65536"

# field sum over the queues of bublk_stats, as bpftool prints it
stat() {	# op field
	bpftool -j map dump pinned "$pins/bublk_stats" |
		python3 -c "import json,sys; print(sum(e['formatted']['value']['op'][$1]['$2'] for e in json.load(sys.stdin)))"
}
w0=$(stat 1 reqs); b0=$(stat 1 bytes)
must dd if=/dev/urandom of=$dev bs=64k count=16 oflag=direct status=none
w1=$(stat 1 reqs); b1=$(stat 1 bytes); s1=$(stat 1 segs)
[ $((w1 - w0)) = 16 ] || die "bublk_stats counted $((w1 - w0)) writes for 16"
[ $((b1 - b0)) = $((1 << 20)) ] || die "bublk_stats counted $((b1 - b0)) bytes written for 1 MiB"
"$BUBLK" stats -n "$id" --json > "$TMP/stats.json" || die "bublk stats failed"
python3 - "$TMP/stats.json" "$w1" "$b1" "$s1" <<'PY' || die "bublk stats --json disagrees with bpftool"
import json, sys
s = json.load(open(sys.argv[1]))
w = s["ops"]["write"]
assert (w["reqs"], w["bytes"], w["segs"]) == tuple(int(x) for x in sys.argv[2:5]), w
PY

# one 128K write at 96K: 32K on b1 @32K, 64K on b2 @0, 32K on b3 @0
must fio --name=one --filename=$dev --rw=write --offset=96k --size=128k --bs=128k --direct=1 \
	--ioengine=psync --output=/dev/null
"$BUBLK" trace -n "$id" --json > "$TMP/trace.json" || die "bublk trace failed"
python3 - "$TMP/trace.json" <<'PY' || die "bublk trace does not show the split write: $(tail -3 "$TMP/trace.json")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
r = [x for x in recs if x["op"] == "WRITE" and x["offset"] == 98304 and x["len"] == 131072][-1]
segs = [(s["op"], s["backend"], s["offset"], s["len"]) for s in r["segs"]]
assert r["result"] == 131072 and r["action"] == "exec", r
assert segs == [("WRITE", 1, 32768, 32768), ("WRITE", 2, 0, 65536), ("WRITE", 3, 0, 32768)], segs
PY
"$BUBLK" trace -n "$id" | grep -q "WRITE   131072 @ 98304" || die "bublk trace text lacks the write"

# list --json: the ids bpftool knows
"$BUBLK" list --json > "$TMP/list.json"
pid_=$(python3 -c "import json,sys; d=[x for x in json.load(open('$TMP/list.json')) if x['dev_id']==$id][0]; print(d['bpf']['programs']['bublk_dispatch'], d['bpf']['maps']['bublk_stats'], d['bpf']['pin_dir'])") ||
	die "list --json lacks the bpf ids: $(cat "$TMP/list.json")"
set -- $pid_
bpftool prog show id "$1" | grep -q "name bublk_dispatch" || die "program id $1 is not bublk_dispatch"
bpftool map show pinned "$pins/bublk_stats" | grep -q "^$2:" || die "map id $2 is not the pinned bublk_stats"
[ "$3" = "$pins" ] || die "pin_dir $3"
must "$BUBLK" del -n "$id"
[ ! -e "$pins" ] || die "$pins left after del"
assert_no_devices
echo "bpftool shows the pins; 16 writes / 1 MiB counted; trace shows the 3-way split; list ids match"
