#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-kernel.sh - fetch a Debian kernel with ublk_drv and build the
# initramfs that selftests/vm/run.sh boots in qemu.
#
# The host cannot load modules, so ublk tests run in a TCG guest.  Two
# kernels can be booted (BUBLK_VM_KSET):
#   6.12     the kernel Debian 12's meta-package linux-image-6.12-amd64
#            points at (bookworm-security), resolved with the machine's apt
#   newest   the newest linux-image-amd64 of a newer Debian suite
#            (BUBLK_VM_SUITE, default trixie-backports), resolved through a
#            private apt configuration under $BUBLK_BUILD/apt/: its own
#            sources list (the archive address taken from the machine's own
#            apt sources), lists, cache and an empty dpkg status.  The
#            machine's apt sources are never changed and nothing is
#            installed: packages are only downloaded and unpacked.
# The versioned package is resolved with apt-cache at run time (never
# hard-coded), downloaded with `apt-get download` (with the linux-binary-*,
# linux-modules-* and linux-base-* packages 7.x splits the image into),
# unpacked with `dpkg -x`, and only vmlinuz plus the few modules we need
# are kept.
#
# Everything lands in $BUBLK_BUILD/vm/ (default: <repo>/build/vm/):
#   debs/<pkg>_<ver>_amd64.deb        downloaded package (kept as a cache)
#   <pkg>/vmlinuz, <pkg>/config       kernel image and its config
#   <pkg>/lib/modules/<kver>/...      decompressed modules + depmod output
#   initramfs-<kver>.cpio.gz          busybox + /init (init.sh) + modules
#   initramfs-<kver>-custom.cpio.gz   same, with $BUBLK_VM_UBLK_KO as ublk_drv
#
# Re-running is cheap and quiet: the package is fetched/unpacked once, and
# the initramfs is rebuilt only when one of its inputs (init.sh, this script,
# busybox, the kernel, the modules) changed.  The only output in that case
# is one "vm: kernel <kver>" line on stderr.
#
# Usage: build-kernel.sh [--env]
#   --env   also print shell assignments for run.sh on stdout:
#           BUBLK_VM_KVER, BUBLK_VM_KERNEL, BUBLK_VM_INITRD
#
# Environment:
#   BUBLK_BUILD        build directory (default: <repo>/build)
#   BUBLK_VM_KSET      6.12 (default) or newest, see above
#   BUBLK_VM_SUITE     the suite "newest" follows (default: trixie-backports)
#   BUBLK_VM_KMETA     meta-package to follow (default: linux-image-6.12-amd64
#                      for 6.12, linux-image-amd64 for newest)
#   BUBLK_VM_KPKG      pin an exact versioned package instead of resolving
#   BUBLK_VM_UBLK_KO   path to a ublk_drv.ko (.ko, .ko.xz or .ko.zst) built
#                      for the same kernel; replaces the stock module

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
BUBLK_BUILD=${BUBLK_BUILD:-$REPO/build}
OUT=$BUBLK_BUILD/vm
KSET=${BUBLK_VM_KSET:-6.12}
SUITE=${BUBLK_VM_SUITE:-trixie-backports}
case "$KSET" in
6.12) KMETA=${BUBLK_VM_KMETA:-linux-image-6.12-amd64} ;;
newest) KMETA=${BUBLK_VM_KMETA:-linux-image-amd64} ;;
*) echo "vm: error: BUBLK_VM_KSET=$KSET: use 6.12 or newest" >&2; exit 2 ;;
esac

# Modules shipped in the initramfs (their dependencies are added
# automatically).  BOOT_MODULES are loaded by /init; the others (null_blk)
# are only made available to guest scripts via `modprobe -d $BUBLK_VM_MODROOT`
# (loop, dm-mod and nbd: the kernel references of make bench).
BOOT_MODULES="netfs 9pnet 9pnet_virtio 9p ublk_drv"
EXTRA_MODULES="null_blk ext4 crc32c_generic loop dm-mod nbd"
# modules a kernel may not have (7.x folded crc32c_generic into its crc library)
OPTIONAL_MODULES="crc32c_generic"

EMIT_ENV=0
case "${1:-}" in
--env) EMIT_ENV=1 ;;
"") ;;
-h | --help) sed -n '4,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "usage: $0 [--env]" >&2; exit 2 ;;
esac

msg() { echo "vm: $*" >&2; }
die() { echo "vm: error: $*" >&2; exit 1; }

mkdir -p "$OUT"
# Serialise concurrent builds (e.g. two run.sh started at once).
exec 9>"$OUT/.lock"
flock 9

# apt through the machine's configuration (6.12) or the private one (newest)
APT_OPTS=()
APT_DIR=$BUBLK_BUILD/apt

# debian_archive, private_apt
# shellcheck source=selftests/vm/private-apt.sh
source "$HERE/private-apt.sh"

# Print the versioned package the meta-package depends on, or nothing.
resolve_kpkg() {
	apt-cache "${APT_OPTS[@]}" depends "$KMETA" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }' ||
		true
}

# The packages 7.x splits an image into (linux-binary-*, linux-modules-*,
# linux-base-*), or nothing for the 6.12 single-package layout.
resolve_parts() {
	apt-cache "${APT_OPTS[@]}" depends "$1" 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-(binary|modules|base)-[0-9]/ { print $2 }' || true
}

# --- 1. which kernel package? -------------------------------------------
[ "$KSET" = newest ] && private_apt "$APT_DIR" "deb $SUITE"
KPKG=${BUBLK_VM_KPKG:-}
if [ -z "$KPKG" ]; then
	KPKG=$(resolve_kpkg)
	if [ -z "$KPKG" ] && [ "$KSET" = 6.12 ] && [ "$(id -u)" = 0 ]; then
		# Package lists missing or stale: refresh once and retry.
		msg "apt-cache does not know $KMETA; running apt-get update"
		apt-get update -qq >/dev/null 2>&1 || msg "apt-get update failed"
		KPKG=$(resolve_kpkg)
	fi
	if [ -z "$KPKG" ]; then
		# Offline / no apt lists: fall back to the kernel this set used last.
		KPKG=$(cat "$OUT/last-$KSET" 2>/dev/null || true)
		[ -n "$KPKG" ] && [ -d "$OUT/$KPKG" ] ||
			die "cannot resolve $KMETA${APT_OPTS:+ in $SUITE} (run 'apt-get update' as root; for newest see $APT_DIR/update.log)"
		msg "warning: cannot resolve $KMETA, using cached $KPKG"
	fi
fi

KDIR=$OUT/$KPKG

# what unpacking and the initramfs need, before anything is cached
for tool in modinfo depmod cpio; do
	command -v "$tool" >/dev/null ||
		die "$tool not found (selftests/install-deps.sh installs it: kmod, cpio)"
done

# --- 2. download + unpack (once per package) ----------------------------
# $KDIR/.done records the module set it was extracted for; a changed set
# (edited BOOT_MODULES/EXTRA_MODULES) triggers a re-extraction.
WANT="$BOOT_MODULES $EXTRA_MODULES"
if [ "$(cat "$KDIR/.done" 2>/dev/null)" != "$WANT" ]; then
	mkdir -p "$OUT/debs"
	debs=()
	for pkg in "$KPKG" $(resolve_parts "$KPKG"); do
		deb=$(ls "$OUT/debs/${pkg}"_*.deb 2>/dev/null | tail -n1 || true)
		if [ -z "$deb" ]; then
			msg "downloading $pkg"
			# apt drops privileges to _apt while downloading; let it write here.
			dl=$(mktemp -d "$OUT/debs/.dl.XXXXXX")
			chmod 0777 "$dl"
			(cd "$dl" && apt-get "${APT_OPTS[@]}" download -qq "$pkg") ||
				{ rm -rf "$dl"; die "apt-get download $pkg failed"; }
			mv "$dl"/*.deb "$OUT/debs/"
			rm -rf "$dl"
			deb=$(ls "$OUT/debs/${pkg}"_*.deb | tail -n1)
		fi
		debs+=("$deb")
	done

	msg "unpacking $(for d in "${debs[@]}"; do basename "$d"; done | xargs)"
	tmp=$(mktemp -d "$OUT/.unpack.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	for deb in "${debs[@]}"; do
		dpkg -x "$deb" "$tmp"
	done
	# 6.12: /lib/modules and /boot; 7.x: everything under /usr/lib/modules
	mroot=$tmp/lib/modules
	[ -d "$mroot" ] || mroot=$tmp/usr/lib/modules
	kver=$(ls "$mroot" 2>/dev/null)
	if [ -z "$kver" ] || [ "$(echo "$kver" | wc -l)" != 1 ]; then
		die "unexpected module directory layout in ${debs[*]}"
	fi
	src=$mroot/$kver

	rm -rf "$KDIR"
	mkdir -p "$KDIR/lib/modules/$kver"
	for f in "$tmp/boot/vmlinuz-$kver" "$src/vmlinuz"; do
		[ -f "$f" ] && cp "$f" "$KDIR/vmlinuz" && break
	done
	[ -s "$KDIR/vmlinuz" ] || die "no vmlinuz in ${debs[*]}"
	for f in "$tmp/boot/config-$kver" "$src/config"; do
		[ -f "$f" ] && cp "$f" "$KDIR/config" && break
	done
	cp "$src"/modules.builtin* "$src"/modules.order "$KDIR/lib/modules/$kver/" \
		2>/dev/null || true

	# Copy each wanted module plus its dependencies (transitively),
	# decompressing .ko.xz / .ko.zst so busybox insmod can load them.
	declare -A seen=()
	add_module() {
		local name=$1 f rel dep deps
		[ -z "${seen[$name]:-}" ] || return 0
		seen[$name]=1
		f=$(find "$src/kernel" \( -name "$name.ko" -o -name "$name.ko.xz" \
			-o -name "$name.ko.zst" -o -name "$name.ko.gz" \) -print -quit)
		if [ -z "$f" ]; then
			# Built into the kernel is fine; missing altogether is not,
			# unless the module is optional.
			grep -q "/$name.ko\$" "$src/modules.builtin" 2>/dev/null ||
				[[ " $OPTIONAL_MODULES " == *" $name "* ]] ||
				die "module $name not found in $KPKG"
			return 0
		fi
		rel=${f#"$src/"}
		rel=${rel%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
		mkdir -p "$(dirname "$KDIR/lib/modules/$kver/$rel")"
		case "$f" in
		*.xz) xz -dc "$f" ;;
		*.zst) zstd -qdc "$f" ;;
		*.gz) gzip -dc "$f" ;;
		*) cat "$f" ;;
		esac >"$KDIR/lib/modules/$kver/$rel"
		# a failing modinfo would leave the dependencies out of a cached
		# tree for good (ext4 without jbd2): stop instead
		deps=$(modinfo -F depends "$f") || die "modinfo $f failed"
		for dep in ${deps//,/ }; do
			add_module "$dep"
		done
	}
	for m in $WANT; do
		add_module "$m"
	done

	echo "$kver" >"$KDIR/kver"
	echo "$WANT" >"$KDIR/.done"
	rm -rf "$tmp"
	trap - EXIT
	[ ! -e "$KDIR/config" ] || grep -q '^CONFIG_BLK_DEV_UBLK=[ym]' "$KDIR/config" ||
		msg "warning: CONFIG_BLK_DEV_UBLK not set in $KPKG"
fi
KVER=$(cat "$KDIR/kver")
echo "$KPKG" >"$OUT/last-$KSET"

# --- 3. initramfs ------------------------------------------------------------
UBLK_KO=${BUBLK_VM_UBLK_KO:-}
if [ -n "$UBLK_KO" ]; then
	[ -f "$UBLK_KO" ] || die "BUBLK_VM_UBLK_KO=$UBLK_KO: no such file"
	UBLK_KO=$(realpath "$UBLK_KO")
	INITRD=$OUT/initramfs-$KVER-custom.cpio.gz
else
	INITRD=$OUT/initramfs-$KVER.cpio.gz
fi

BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "busybox not found (install busybox-static)"
# The initramfs has no libc: busybox must be the static build.
! ldd "$BUSYBOX" >/dev/null 2>&1 ||
	die "$BUSYBOX is dynamically linked (install busybox-static)"

# Everything the initramfs is made of, hashed; rebuild only on change.
inputs_hash() {
	{
		echo "$KVER $UBLK_KO"
		sha256sum "$HERE/init.sh" "$HERE/build-kernel.sh" "$BUSYBOX" \
			${UBLK_KO:+"$UBLK_KO"}
		(cd "$KDIR" && find lib -type f | sort | xargs sha256sum)
	} | sha256sum | cut -d' ' -f1
}
hash=$(inputs_hash)

if [ ! -s "$INITRD" ] || [ "$(cat "$INITRD.inputs" 2>/dev/null)" != "$hash" ]; then
	root=$(mktemp -d "$OUT/.initramfs.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,host,lib}
	cp "$BUSYBOX" "$root/bin/busybox"
	install -m 0755 "$HERE/init.sh" "$root/init"
	cp -a "$KDIR/lib/modules" "$root/lib/"
	mdir=$root/lib/modules/$KVER

	if [ -n "$UBLK_KO" ]; then
		stock=$(cd "$mdir" && find kernel -name ublk_drv.ko)
		[ -n "$stock" ] || stock=kernel/drivers/block/ublk_drv.ko
		case "$UBLK_KO" in
		*.xz) xz -dc "$UBLK_KO" ;;
		*.zst) zstd -qdc "$UBLK_KO" ;;
		*) cat "$UBLK_KO" ;;
		esac >"$mdir/$stock"
		vm=$(modinfo -F vermagic "$mdir/$stock" | cut -d' ' -f1)
		[ "$vm" = "$KVER" ] ||
			msg "warning: $UBLK_KO vermagic '$vm' != kernel $KVER"
		msg "using custom ublk_drv: $UBLK_KO"
	fi

	# modules.dep for `modprobe -d` inside the guest.
	depmod -b "$root" "$KVER"

	# Load order for /init: dependencies first, each module once.
	for m in $BOOT_MODULES; do
		awk -v m="$m" -F': *' '
			{ n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n) }
			n == m {
				k = split($2, d, " ")
				for (i = k; i >= 1; i--) print d[i]
				print $1
			}' "$mdir/modules.dep"
	done | awk '!seen[$0]++' >"$mdir/boot-modules"
	# Sanity check: every boot module must be loadable from the initramfs.
	for m in $BOOT_MODULES; do
		grep -q "/$m.ko\$" "$mdir/boot-modules" ||
			grep -q "/$m.ko\$" "$mdir/modules.builtin" ||
			die "boot module $m missing from initramfs"
	done

	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
		gzip -1 >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD" # atomic: a running qemu keeps the old file
	echo "$hash" >"$INITRD.inputs"
	rm -rf "$root"
	trap - EXIT
	msg "built $(basename "$INITRD") ($(du -k "$INITRD" | cut -f1) KiB)"
fi

msg "kernel $KVER"
if [ "$EMIT_ENV" = 1 ]; then
	printf 'BUBLK_VM_KVER=%q\n' "$KVER"
	printf 'BUBLK_VM_KERNEL=%q\n' "$KDIR/vmlinuz"
	printf 'BUBLK_VM_INITRD=%q\n' "$INITRD"
fi
