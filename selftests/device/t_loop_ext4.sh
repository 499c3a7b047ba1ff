#!/bin/bash
# loop target: a real filesystem: mkfs.ext4, mount, files, umount, fsck clean,
# remount and read the files back.
. "$(dirname "$0")/lib.sh"

need_module ext4

img=$TMP/disk.img
truncate -s 128M "$img"
id=$(add_dev -t loop -f "$img" -q 1 -d 32)
dev=/dev/ublkb$id
mnt=$TMP/mnt
mkdir -p "$mnt"
must mkfs.ext4 -q -F "$dev"
must mount "$dev" "$mnt"
for i in 1 2 3 4 5; do
	head -c $((i * 700000)) /dev/urandom > "$mnt/file$i"
done
mkdir -p "$mnt/dir/sub" && echo hello > "$mnt/dir/sub/greeting"
(cd "$mnt" && find . -type f | sort | xargs md5sum) > "$TMP/sums"
# busy device: del must refuse while mounted
"$BUBLK" del -n "$id" 2>"$TMP/del.err" && die "del of a mounted device succeeded"
grep -q "in use" "$TMP/del.err" || die "del of a mounted device said: $(cat "$TMP/del.err")"
must umount "$mnt"
must fsck.ext4 -fn "$dev"
must mount "$dev" "$mnt"
(cd "$mnt" && md5sum -c --quiet "$TMP/sums") || die "files differ after remount"
must umount "$mnt"
must "$BUBLK" del -n "$id"
# the filesystem is in the backing file itself
must fsck.ext4 -fn "$img"
assert_no_devices
echo "ext4 on the loop device: mkfs, files, fsck clean, data intact"
