#!/bin/bash
# Pin directories are trusted only when root owns them and nobody else can
# write them (docs/reliability.md, security finding 5): on a bpffs mounted
# without mode=0700 another user may create /sys/fs/bpf/bublk first, then
# move one device's pinned state (fault rules) under another device.
. "$(dirname "$0")/lib.sh"

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
root=/sys/fs/bpf/bublk
truncate -s 8M "$TMP/a.img"
head -c 1M /dev/urandom >"$TMP/pat"

# a device once, so that bpffs is mounted, then none
id=$(add_dev -t loop -f "$TMP/a.img")
must "$BUBLK" del -n "$id"
mode=$(stat -c %a /sys/fs/bpf)
restore() { chmod "$mode" /sys/fs/bpf; rm -rf "$root"; cleanup; }
trap restore EXIT

# the kernel's default bpffs mode: anyone may create entries at the top
chmod 1777 /sys/fs/bpf
rm -rf "$root"
nobody mkdir "$root" || die "nobody could not create $root (test setup)"
nobody chmod 0777 "$root"
"$BUBLK" add -t fault -f "$TMP/a.img" >"$TMP/out" 2>&1 && die "add accepted a pin directory owned by nobody: $(cat "$TMP/out")"
grep -q "owned by uid 65534" "$TMP/out" || die "refused with: $(cat "$TMP/out")"
assert_no_devices

# root-owned but writable by others: refused too
rm -rf "$root"
mkdir -m 0777 "$root"
"$BUBLK" add -t fault -f "$TMP/a.img" >"$TMP/out" 2>&1 && die "add accepted a world-writable pin directory"
grep -q "writable by other users" "$TMP/out" || die "refused with: $(cat "$TMP/out")"
assert_no_devices

# made afresh by bublk: 0700 root, so nobody cannot move a device's pins
rm -rf "$root"
id=$(add_dev -t fault -f "$TMP/a.img")
[ "$(stat -c '%u %a' "$root")" = "0 700" ] || die "$root is $(stat -c '%u %a' "$root"), not root 700"
nobody mv "$root/$id" "$root/$((id + 1))" 2>/dev/null && die "nobody moved $root/$id"
[ -e "$root/$id/fault_rules" ] || die "dev $id lost its fault_rules pin"
must dd if="$TMP/pat" of="/dev/ublkb$id" bs=64k oflag=direct status=none
cmp <(dd if="/dev/ublkb$id" bs=64k count=16 iflag=direct status=none) "$TMP/pat" || die "read back differs"
must "$BUBLK" del -n "$id"
assert_no_devices
echo "pin directory owned by nobody or writable by others refused; bublk's own is root 0700 and its pins stay put"
