#!/bin/bash
# Install everything bublk's build, tests and VM harness need, from Debian's
# packages. Idempotent: prints nothing and touches nothing when all is present.
# Extra packages may be named on the command line (make bench adds its own).
set -euo pipefail

PKGS=(
	make gcc libc6-dev pkg-config
	gcc-12 bc python3 dwarves	# the test ublk module (selftests/kmod): kbuild, BTF
	clang-19 llvm-19 libbpf-dev bpftool libelf-dev zlib1g-dev
	libclang-rt-19-dev libasan8 libubsan1
	liburing-dev libjson-c-dev
	libnbd-dev nbdkit	# NBD backends (nbd://, nbd+unix://) and the servers t_nbd runs
	qemu-system-x86 busybox-static cpio kmod xz-utils zstd
	fio e2fsprogs util-linux
	strace	# t_add_crash holds a bublk add mid-creation (inject=...:delay_enter)
	"$@"
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
