#!/bin/bash
# kill -9 of "bublk add --foreground" at different moments (security
# review 8): held by strace after ADD_DEV and after pinning (listed as
# creating, alive; recover refuses it), at once, once /dev/ublkcN exists, once its programs
# are pinned, once it is live; and a live device whose state file was
# removed by hand. Every leftover is in "bublk list --json" (dead), and
# "bublk del -a --force" leaves no device, pin directory or state file,
# with BPF programs and maps back to where they started.
. "$(dirname "$0")/lib.sh"

# wait (up to 60 s) for a condition, naming it when it does not come
until_true() {	# what command...
	local what=$1 end=$((SECONDS + 60))
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.02
	done
	die "waited 60 s for $what"
}
# the id whose state file names pid (the provisional one appears before ADD_DEV)
id_of() {	# pid
	grep -l "\"pid\": $1," /run/bublk/*.json 2>/dev/null | sed -n 's|.*/\([0-9]*\)\.json|\1|p' | head -1
}
has_id() { [ -n "$(id_of "$1")" ]; }
# every id something of bublk's is left under
leftover_ids() {
	ls /dev/ublkc* /run/bublk/*.json /sys/fs/bpf/bublk/ 2>/dev/null |
		sed -n 's|^/dev/ublkc\([0-9]*\)$|\1|p; s|^/run/bublk/\([0-9]*\)\.json$|\1|p; s|^\([0-9][0-9]*\)$|\1|p' |
		sort -un
}

img=$TMP/disk.img
truncate -s 32M "$img"
progs0=$(nprogs)
maps0=$(nmaps)
start_add() {
	"$BUBLK" add --foreground -t fault -f "$img" >"$TMP/add.out" 2>&1 &
	pid=$!
}
crash() {	# what: kill -9 the add, wait until it is gone
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "killed add $pid $1${2:+ (dev $2)}"
}

# 1. while it is at work: listed as creating (alive), recover refuses it.
# strace holds it at a syscall: its first statfs() (bublk looks at bpffs
# before pinning: after ADD_DEV, no pins yet), or sched_setaffinity() (a
# queue thread's first step: pinned, not started).
command -v strace >/dev/null || die "strace is needed (selftests/install-deps.sh installs it)"
# the provisional state file of the add strace runs (its child)
traced_file() {
	local f p
	for f in $(grep -l '"state": "creating"' /run/bublk/*.json 2>/dev/null); do
		p=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$f")
		grep -qs "^PPid:\s*$tracer$" "/proc/$p/status" && echo "$f" && return 0
	done
	return 1
}
has_traced_file() { traced_file >/dev/null; }
held_add() {	# syscall: the add, held at its first one (of any thread); sets id, pid, tracer
	local f
	strace -f -qq -o /dev/null -e trace="$1" -e inject="$1:delay_enter=30000000:when=1" \
		"$BUBLK" add --foreground -t fault -f "$img" >"$TMP/add.out" 2>&1 &
	tracer=$!
	until_true "a provisional state file of the add strace $tracer runs" has_traced_file
	f=$(traced_file)
	id=$(basename "$f" .json)
	pid=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$f")
	until_true "/dev/ublkc$id (ADD_DEV done)" test -e "/dev/ublkc$id"
}
listed_creating() {	# id pid
	"$BUBLK" list --json >"$TMP/list.json" || die "bublk list failed"
	python3 - "$TMP/list.json" "$1" "$2" <<'PY' || die "a device being created is not listed as such: $(cat "$TMP/list.json")"
import json, sys
devs = {d["dev_id"]: d for d in json.load(open(sys.argv[1]))}
d = devs[int(sys.argv[2])]
assert d["state"] == "creating" and d["alive"] is True and d["pid"] == int(sys.argv[3]), d
PY
	"$BUBLK" list | awk -v id="$1" '$1 == id' | grep -qw creating ||
		die "bublk list does not say creating: $("$BUBLK" list)"
}
release_held() {	# what
	kill -9 "$pid"
	kill "$tracer" 2>/dev/null	# its delay timer would keep it 30 s
	wait "$tracer" 2>/dev/null
	echo "killed add $pid held $1 (dev $id)"
}

held_add statfs
listed_creating "$id" "$pid"
out=$("$BUBLK" recover -n "$id" 2>&1) && die "recover took over a device being created: $out"
grep -q "dev $id is being created by pid $pid" <<<"$out" || die "recover of a device being created said: $out"
release_held "after ADD_DEV, before pinning"

held_add sched_setaffinity
# a thread of bublk's own: io_uring's workers (iou-wrk-*, from the control
# ring's commands) are tasks of the process too, and come before any pin
threads() {
	local t
	for t in /proc/"$pid"/task/*; do
		[ "$t" != "/proc/$pid/task/$pid" ] && ! grep -qs '^iou-' "$t/comm" && return 0
	done
	return 1
}
until_true "a queue thread of add $pid" threads
[ -e "/sys/fs/bpf/bublk/$id/bublk_dispatch" ] || die "held at its first queue thread, dev $id has no pins"
listed_creating "$id" "$pid"
release_held "pinned, starting its queues"

# 2. at once, before it has done anything much (three times)
for _ in 1 2 3; do
	start_add
	crash "at once"
done

# 3. once its char device exists; 4. once its programs are pinned; 5. once live
start_add
until_true "add $pid's state file" has_id "$pid"
id=$(id_of "$pid")
until_true "/dev/ublkc$id" test -e "/dev/ublkc$id"
crash "with /dev/ublkc$id there" "$id"

start_add
until_true "add $pid's state file" has_id "$pid"
id=$(id_of "$pid")
until_true "/sys/fs/bpf/bublk/$id/bublk_dispatch" test -e "/sys/fs/bpf/bublk/$id/bublk_dispatch"
crash "with its programs pinned" "$id"

start_add
until_true "add $pid to say it is live" grep -q /dev/ublkb "$TMP/add.out"
id=$(id_of "$pid")
crash "once live" "$id"
live=$id

# 6. a device bublk made, with its pins but no state file at all
start_add
until_true "add $pid to say it is live" grep -q /dev/ublkb "$TMP/add.out"
nostate=$(id_of "$pid")
crash "live, then its state file removed" "$nostate"
rm "/run/bublk/$nostate.json"

ls /dev/ublk* /run/bublk /sys/fs/bpf/bublk 2>&1 | xargs echo "left behind:"
left=$(leftover_ids | xargs)
[ -n "$left" ] || die "the kills left nothing behind: test premise"
"$BUBLK" list --json >"$TMP/list.json" 2>"$TMP/list.err" || die "bublk list failed: $(cat "$TMP/list.err")"
python3 - "$TMP/list.json" "$nostate" "$live" $left <<'PY' || die "bublk list --json misses leftovers: $(cat "$TMP/list.json")"
import json, sys
devs = {d["dev_id"]: d for d in json.load(open(sys.argv[1]))}
nostate, live, left = int(sys.argv[2]), int(sys.argv[3]), [int(x) for x in sys.argv[4:]]
for i in left:
    if i == nostate:
        continue
    assert i in devs, f"dev {i} left behind but not listed"
    assert devs[i]["alive"] is False, devs[i]
    assert devs[i]["state"] in ("creating", "live"), devs[i]
assert devs[live]["state"] == "live", devs[live]
print("listed:", ", ".join(f'{i} {d["state"]}' for i, d in sorted(devs.items())))
PY
grep -q "dev $nostate: .*holds bublk's pins but there is no /run/bublk/$nostate.json" "$TMP/list.err" ||
	die "bublk list does not mention dev $nostate (pins, no state file): $(cat "$TMP/list.err")"
"$BUBLK" list | grep -w creating | grep -vw dead && die "a dead add is listed as creating"
# a device that was never live cannot be recovered, and says what to do
for i in $left; do
	grep -q '"state": "creating"' "/run/bublk/$i.json" 2>/dev/null || continue
	out=$("$BUBLK" recover -n "$i" 2>&1) && die "recover of dev $i, never live, succeeded: $out"
	grep -q "was never live.*bublk del -n $i" <<<"$out" || die "recover of dev $i said: $out"
done

must "$BUBLK" del -a --force
after=$(ls -d /dev/ublkb* /dev/ublkc* /sys/fs/bpf/bublk/[0-9]* /run/bublk/*.json 2>/dev/null | xargs)
[ -z "$after" ] || die "bublk del -a --force left: $after"
settles_to nprogs "$progs0" || die "$(( $(nprogs) - progs0 )) BPF programs left after del -a"
settles_to nmaps "$maps0" || die "$(( $(nmaps) - maps0 )) BPF maps left after del -a"
# and the ids are free again: a new device serves
id=$(add_dev -t loop -f "$img")
must dd if=/dev/zero of="/dev/ublkb$id" bs=64k count=4 oflag=direct status=none
must "$BUBLK" del -n "$id"
assert_no_devices
echo "kill -9 at 9 moments: every leftover listed (ids $left), del -a removed devices, pins and state; BPF objects back to $progs0/$maps0"
