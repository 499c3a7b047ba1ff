#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh - build bublk's test ublk driver, $BUBLK_BUILD/kmod/ublk_drv.ko:
# Debian's own drivers/block/ublk_drv.c for the kernel the test VM boots,
# patched by patch.py (SHMEM_ZC with 7.1 semantics + the bublk_sg_ops hook).
#
# Nothing is installed on the host.  For the VM's kernel version (resolved
# by selftests/vm/build-kernel.sh, so the two always agree) it downloads
# with `apt-get download`, once, into $BUBLK_BUILD/kmod/debs/:
#   linux-source-<major.minor>          only ublk_drv.c is extracted
#   linux-headers-<kver>, linux-headers-<abi>-common, linux-kbuild-<abi>
# and unpacks them with dpkg -x.  The kernel's source never enters the
# checkout.  Needs gcc, make, bc, python3 and pahole (dwarves, for module
# BTF): selftests/install-deps.sh.
#
# Cached: the module is rebuilt only when an input changed (the kernel
# package version, this directory's sources, include/bublk/sg_hook.h).
# Quiet: prints nothing on success (the .ko path with --print); on failure
# the end of the build log and a non-zero status.
#
# Usage: build.sh [--print]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
export BUBLK_BUILD=${BUBLK_BUILD:-$REPO/build}
OUT=$BUBLK_BUILD/kmod
KO=$OUT/ublk_drv.ko

die() { echo "kmod: error: $*" >&2; exit 1; }

mkdir -p "$OUT"
exec 8>"$OUT/.lock"
flock 8

# --- which kernel? the one the VM boots -------------------------------------
log=$OUT/build.log
env_out=$(env -u BUBLK_VM_UBLK_KO "$REPO/selftests/vm/build-kernel.sh" --env 2>"$log") ||
	{ cat "$log" >&2; die "cannot resolve the VM kernel"; }
eval "$env_out"
KVER=$BUBLK_VM_KVER				# 6.12.117+deb12-amd64
ABI=${KVER%-*}					# 6.12.117+deb12
FLAVOUR=${KVER##*-}				# amd64
MM=$(echo "$KVER" | cut -d. -f1,2)		# 6.12
kdeb=$(ls "$BUBLK_BUILD/vm/debs/linux-image-${KVER}_"*.deb 2>/dev/null | tail -n1)
[ -n "$kdeb" ] || die "no linux-image-$KVER package in $BUBLK_BUILD/vm/debs"
VERSION=$(dpkg-deb -f "$kdeb" Version)		# 6.12.117-1~deb12u1

PKGS="linux-source-$MM linux-headers-$KVER linux-headers-$ABI-common linux-kbuild-$ABI"

inputs_hash() {
	{
		echo "$VERSION $KVER"
		(cd "$HERE" && sha256sum build.sh patch.py Kbuild bublk_shmem.h bublk_shmem.c bublk_sg.c)
		sha256sum "$REPO/include/bublk/sg_hook.h"
	} | sha256sum | cut -d' ' -f1
}
hash=$(inputs_hash)
if [ -s "$KO" ] && [ "$(cat "$KO.inputs" 2>/dev/null)" = "$hash" ]; then
	[ "${1:-}" != --print ] || echo "$KO"
	exit 0
fi

# --- 1. packages (downloaded once per version) ------------------------------
mkdir -p "$OUT/debs"
for p in $PKGS; do
	ls "$OUT/debs/${p}_${VERSION}_"*.deb >/dev/null 2>&1 && continue
	# apt drops privileges to _apt while downloading; let it write here
	dl=$(mktemp -d "$OUT/debs/.dl.XXXXXX")
	chmod 0777 "$dl"
	if ! (cd "$dl" && apt-get download -qq "$p=$VERSION") >>"$log" 2>&1 &&
		! { [ "$(id -u)" = 0 ] && apt-get update -qq >>"$log" 2>&1 &&
			(cd "$dl" && apt-get download -qq "$p=$VERSION") >>"$log" 2>&1; }; then
		rm -rf "$dl"
		cat "$log" >&2
		die "apt-get download $p=$VERSION failed (apt-get update as root?)"
	fi
	mv "$dl"/*.deb "$OUT/debs/"
	rm -rf "$dl"
done
deb() { ls "$OUT/debs/${1}_${VERSION}_"*.deb | tail -n1; }

# --- 2. unpack headers + kbuild, extract ublk_drv.c (once per version) -------
ROOT=$OUT/root-$VERSION
HDR=$ROOT/usr/src/linux-headers-$KVER
SRC=$OUT/ublk_drv-$VERSION.c
if [ ! -e "$ROOT/.done" ]; then
	rm -rf "$ROOT"
	for p in linux-headers-$KVER linux-headers-$ABI-common linux-kbuild-$ABI; do
		dpkg -x "$(deb "$p")" "$ROOT"
	done
	# the flavour's Makefile includes the -common one by absolute path
	sed -i "s|^include /usr/src/|include $ROOT/usr/src/|" "$HDR/Makefile"
	touch "$ROOT/.done"
fi
if [ ! -s "$SRC" ]; then
	dpkg-deb --fsys-tarfile "$(deb "linux-source-$MM")" |
		tar -xO "./usr/src/linux-source-$MM.tar.xz" |
		tar -xJO "linux-source-$MM/drivers/block/ublk_drv.c" >"$SRC.tmp" ||
		die "cannot extract ublk_drv.c from linux-source-$MM"
	mv "$SRC.tmp" "$SRC"
fi

# --- 3. patch + build ---------------------------------------------------------
MOD=$OUT/mod
rm -rf "$MOD"
mkdir -p "$MOD"
python3 "$HERE/patch.py" "$SRC" "$MOD/ublk_drv.c" 2>>"$log" ||
	{ cat "$log" >&2; die "patch.py failed"; }
cp "$HERE/Kbuild" "$HERE/bublk_shmem.h" "$HERE/bublk_shmem.c" "$HERE/bublk_sg.c" "$MOD/"
cp "$REPO/include/bublk/sg_hook.h" "$MOD/bublk_sg_hook.h"
if ! make -C "$HDR" M="$MOD" -j2 modules >>"$log" 2>&1; then
	tail -40 "$log" >&2
	die "module build failed (log: $log)"
fi
grep -q 'Skipping BTF generation' "$log" &&
	die "no BTF for the module (is pahole installed?); log: $log"
vm=$(modinfo -F vermagic "$MOD/ublk_drv.ko" | cut -d' ' -f1)
[ "$vm" = "$KVER" ] || die "vermagic $vm != VM kernel $KVER"

cp "$MOD/ublk_drv.ko" "$KO.tmp"
mv "$KO.tmp" "$KO"
# the module's BTF as C, for reference when writing BPF against it
bpftool btf dump file "$KO" --base-btf "$HDR/vmlinux" format c >"$OUT/ublk_drv.btf.h" 2>>"$log" || true
echo "$hash" >"$KO.inputs"
[ "${1:-}" != --print ] || echo "$KO"
exit 0
