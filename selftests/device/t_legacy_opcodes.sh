#!/bin/bash
# the pre-6.4 (non ioctl-encoded) opcode path creates and serves a device
. "$(dirname "$0")/lib.sh"

img=$TMP/disk.img
truncate -s 32M "$img"
id=$(add_dev -t loop -f "$img" --legacy)
dev=/dev/ublkb$id
"$BUBLK" list --json | tr -d '\n' | grep -q "\"dev_id\": $id,[^}]*\"legacy_opcodes\": true" \
	|| die "device not on legacy opcodes: $("$BUBLK" list --json)"
head -c $((2 << 20)) /dev/urandom > "$TMP/pat"
must dd if="$TMP/pat" of="$dev" bs=64k oflag=direct status=none
cmp <(dd if="$dev" bs=64k count=32 iflag=direct status=none) "$TMP/pat" || die "data differs"
must "$BUBLK" del -n "$id"
cmp -n $((2 << 20)) "$img" "$TMP/pat" || die "backing file differs"
assert_no_devices
echo "legacy opcodes: device created, data written and read back, deleted"
