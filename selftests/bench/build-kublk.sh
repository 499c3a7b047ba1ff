#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-kublk.sh - build kublk, the Linux kernel's own ublk selftest server
# (tools/testing/selftests/ublk), as make bench's reference ublk server:
# $BUBLK_BUILD/kublk/kublk.
#
# kublk's code never enters the checkout. It comes from Debian's
# linux-source-<major.minor> package of the newest kernel the test VM boots
# (BUBLK_VM_KSET=newest, resolved by selftests/vm/build-kernel.sh, so the
# two always agree), in the exact version of that kernel package. Only
# tools/testing/selftests/ublk/ and the kernel's include/uapi/linux are
# extracted; the headers kublk includes (ublk_cmd.h, io_uring.h, fs.h) come
# before the machine's in the include path (it needs newer ones than
# Debian 12's).
#
# kublk needs a newer liburing than Debian 12's: Debian's own liburing
# source package (the newest of $SUITE and its base suite) is unpacked with
# dpkg-source, built and installed into a private prefix, and kublk links
# it statically (the VM runs host binaries chrooted into the host's root,
# where only Debian 12's liburing exists).
#
# Packages are resolved and downloaded through a private apt configuration
# ($BUBLK_BUILD/kublk/apt, selftests/vm/private-apt.sh): deb and deb-src
# lines for $SUITE and its base suite on the archive the machine's own apt
# sources name. Nothing is installed and the machine's apt sources are
# never changed. Needs gcc, make, xz and dpkg-dev (dpkg-source).
#
# Cached: when kublk is built for this kernel version by this script, it
# prints one line and exits without touching the network.
#
# Usage: build-kublk.sh [--print]   (--print: the binary's path on stdout)
# Environment: BUBLK_BUILD, BUBLK_VM_SUITE (default trixie-backports)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$HERE/../.." && pwd -P)
export BUBLK_BUILD=${BUBLK_BUILD:-$REPO/build}
OUT=$BUBLK_BUILD/kublk
SUITE=${BUBLK_VM_SUITE:-trixie-backports}
BASE_SUITE=${SUITE%-backports}
KUBLK=$OUT/kublk
log=$OUT/build.log

msg() { echo "kublk: $*" >&2; }
die() { echo "kublk: error: $*" >&2; exit 1; }
# shellcheck source=selftests/vm/private-apt.sh
source "$REPO/selftests/vm/private-apt.sh"

mkdir -p "$OUT"
exec 8>"$OUT/.lock"
flock 8

# --- which kernel? the newest the VM boots ----------------------------------
env_out=$(env -u BUBLK_VM_UBLK_KO BUBLK_VM_KSET=newest "$REPO/selftests/vm/build-kernel.sh" --env 2>"$log") ||
	{ cat "$log" >&2; die "cannot resolve the VM's newest kernel (selftests/vm/build-kernel.sh)"; }
eval "$env_out"
KVER=$BUBLK_VM_KVER				# 7.3.4+deb13-amd64
MM=$(echo "$KVER" | cut -d. -f1,2)		# 7.3
kdeb=$(find "$BUBLK_BUILD/vm/debs" -name "linux-image-${KVER}_*.deb" | sort | tail -n1)
[ -n "$kdeb" ] || die "no linux-image-$KVER package in $BUBLK_BUILD/vm/debs (run selftests/vm/build-kernel.sh)"
VERSION=$(dpkg-deb -f "$kdeb" Version)		# 7.3.4-1~bpo13+1
SPKG=linux-source-$MM

hash=$( { echo "$VERSION $SUITE"; sha256sum "$HERE/build-kublk.sh"; } | sha256sum | cut -d' ' -f1)
if [ -x "$KUBLK" ] && [ "$(cat "$KUBLK.inputs" 2>/dev/null)" = "$hash" ]; then
	msg "$KUBLK ($(cat "$OUT/what"), cached)"
	[ "${1:-}" != --print ] || echo "$KUBLK"
	exit 0
fi
: >"$log"
rm -f "$KUBLK"
private_apt "$OUT/apt" "deb $SUITE" "deb-src $SUITE" "deb-src $BASE_SUITE"

# apt drops privileges to _apt while downloading: give it a directory it may
# write, run "apt-get ARGS..." there, move what it fetched to DEST
fetch() {
	local dest=$1 dl
	shift
	mkdir -p "$dest"
	dl=$(mktemp -d "$dest/.dl.XXXXXX")
	chmod 0777 "$dl"
	if ! (cd "$dl" && apt-get "${APT_OPTS[@]}" -qq "$@") >>"$log" 2>&1; then
		rm -rf "$dl"
		tail -5 "$log" >&2
		return 1
	fi
	mv "$dl"/* "$dest/"
	rmdir "$dl"
}

# --- 1. linux-source: the ublk selftests and two uapi headers ---------------
SRC=$OUT/src-$VERSION
if [ ! -e "$SRC/.done" ]; then
	# nothing there yet on a fresh machine: not an error (set -e, pipefail)
	sdeb=$(find "$OUT/debs" -name "${SPKG}_${VERSION}_*.deb" 2>/dev/null | head -n1 || true)
	if [ -z "$sdeb" ]; then
		msg "downloading $SPKG $VERSION (~160 MB) from $SUITE"
		fetch "$OUT/debs" download "$SPKG=$VERSION" ||
			die "apt-get download $SPKG=$VERSION failed (log: $log; is $SUITE reachable? see $OUT/apt/update.log)"
		sdeb=$(find "$OUT/debs" -name "${SPKG}_${VERSION}_*.deb" | head -n1)
	fi
	msg "extracting tools/testing/selftests/ublk from $(basename "$sdeb")"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	dpkg-deb --fsys-tarfile "$sdeb" | tar -xO "./usr/src/$SPKG.tar.xz" |
		tar -xJ -C "$SRC" --strip-components=1 --wildcards \
			"$SPKG/tools/testing/selftests/ublk/*" \
			"$SPKG/include/uapi/linux/*" ||
		die "cannot extract the ublk selftests from $sdeb"
	touch "$SRC/.done"
fi

# --- 2. liburing from Debian's source package, private prefix ---------------
URING=$OUT/liburing
if [ ! -e "$URING/.done" ]; then
	rm -rf "$OUT/liburing-src"
	msg "fetching Debian's liburing source ($SUITE / $BASE_SUITE)"
	fetch "$OUT/liburing-src" source --download-only liburing ||
		die "apt-get source --download-only liburing failed (log: $log)"
	dsc=$(find "$OUT/liburing-src" -name 'liburing_*.dsc' | head -n1)
	[ -n "$dsc" ] || die "no liburing .dsc fetched (log: $log)"
	(cd "$OUT/liburing-src" && dpkg-source --no-check -x "$dsc" tree) >>"$log" 2>&1 ||
		die "dpkg-source -x $dsc failed (is dpkg-dev installed? log: $log)"
	uver=$(basename "$dsc" .dsc)
	msg "building ${uver/_/ } into $URING"
	rm -rf "$URING"
	if ! (cd "$OUT/liburing-src/tree" &&
		./configure --prefix="$URING" --libdir="$URING/lib" \
			--includedir="$URING/include" --mandir="$URING/man" &&
		make -C src -j"$(nproc)" && make -C src install) >>"$log" 2>&1; then
		tail -20 "$log" >&2
		die "liburing build failed (log: $log)"
	fi
	echo "${uver#liburing_}" >"$URING/.done"
fi

# --- 3. kublk ----------------------------------------------------------------
# The uapi headers kublk includes (ublk_cmd.h, io_uring.h, fs.h) as `make headers_install` would leave them
# (annotations that mean nothing to user space removed), before the
# machine's in the include path.
INC=$OUT/include
rm -rf "$INC"
mkdir -p "$INC/linux"
for h in ublk_cmd.h io_uring.h io_uring fs.h; do
	cp -r "$SRC/include/uapi/linux/$h" "$INC/linux/"
done
find "$INC" -name '*.h' -exec sed -i -E 's/\b__(user|force|iomem)\b//g' {} +
ST=$SRC/tools/testing/selftests/ublk
srcs=$(cd "$ST" && find . -maxdepth 1 -name '*.c' ! -name metadata_size.c | sort)
msg "building kublk ($SPKG $VERSION, liburing $(cat "$URING/.done"))"
# shellcheck disable=SC2086 # srcs: a list of plain file names
if ! (cd "$ST" && gcc -O3 -Wall -D_GNU_SOURCE -I"$INC" -I"$URING/include" \
	-o "$KUBLK.tmp" $srcs "$URING/lib/liburing.a" -lpthread -lm) >>"$log" 2>&1; then
	tail -30 "$log" >&2
	die "kublk build failed (log: $log)"
fi
mv "$KUBLK.tmp" "$KUBLK"
echo "$SPKG $VERSION, liburing $(cat "$URING/.done") static" >"$OUT/what"
echo "$hash" >"$KUBLK.inputs"
msg "built $KUBLK ($(cat "$OUT/what"))"
[ "${1:-}" != --print ] || echo "$KUBLK"
exit 0
