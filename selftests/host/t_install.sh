#!/bin/bash
# make install with PREFIX and DESTDIR puts everything where pkg-config
# says, and the example target builds against the installed headers alone
# and loads through the installed bublk's target lookup.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "not ok install: $*"; exit 1; }

make -s install DESTDIR="$tmp/root" PREFIX=/opt/bublk >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "make install failed"; }
r=$tmp/root/opt/bublk
for f in bin/bublk lib/libbublk.a lib/pkgconfig/bublk.pc include/bublk/abi.h include/bublk/bublk.bpf.h \
	lib/bublk/loop.bpf.o lib/bublk/overlay.bpf.o; do
	[ -e "$r/$f" ] || fail "$f was not installed"
done
for f in sg_hook.h ublk_proto.h; do
	[ -e "$r/include/bublk/$f" ] && fail "the kernel prototype's $f was installed"
done
[ "$(PKG_CONFIG_PATH=$r/lib/pkgconfig pkg-config --cflags bublk | xargs)" = "-I/opt/bublk/include" ] ||
	fail "pkg-config --cflags: $(PKG_CONFIG_PATH=$r/lib/pkgconfig pkg-config --cflags bublk)"
mkdir -p "$tmp/ex"
cp examples/hello.bpf.c examples/shmem_client.c examples/Makefile "$tmp/ex/"	# away from the tree's headers
make -s -C "$tmp/ex" BUBLK_PREFIX="$r" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "example did not build against the installed headers"; }
"$r/bin/bublk" add -t "$tmp/ex/hello.bpf.o" --help > "$tmp/help" 2>&1 || { cat "$tmp/help"; fail "installed bublk cannot read the example"; }
grep -q "skip" "$tmp/help" || fail "target help lacks the skip option"
"$r/bin/bublk" add -t overlay --help 2>&1 | grep -q "copy-on-write" || fail "installed bublk does not find its installed targets"
echo "ok install: PREFIX/DESTDIR layout, pkg-config, example built from installed headers"
