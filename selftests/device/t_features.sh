#!/bin/bash
# bublk features --json reports what the kernel reports, bit by bit
. "$(dirname "$0")/lib.sh"

json=$("$BUBLK" features --json) || die "features failed"
total=$(echo "$json" | sed -n 's/.*"features": \([0-9]*\).*/\1/p')
sum=0
for b in $(echo "$json" | grep -o '"bit": [0-9]*' | awk '{print $2}'); do
	sum=$((sum | (1 << b)))
done
[ "$sum" = "$total" ] || die "listed bits ($sum) differ from the reported mask ($total)"
for f in CMD_IOCTL_ENCODE USER_COPY USER_RECOVERY; do
	echo "$json" | grep -q "\"name\": \"$f\"" || die "$f missing on $(uname -r): $json"
done
case "$(uname -r)" in
6.12.*)	# Debian's 6.12 driver: bits 1-8 (see selftests/vm console logs)
	[ "$total" = $((0x1fe)) ] || die "6.12 reports $total, expected 0x1fe" ;;
esac
echo "$json" | grep -q SHMEM_ZC && [ "${total}" -lt $((1 << 19)) ] && die "SHMEM_ZC named but bit 19 not set"
printf 'features 0x%x: %s\n' "$total" "$("$BUBLK" features | awk '{print $2}' | tr '\n' ' ')"
# kept for the kernel matrix in docs/kernels.md (selftests/kernel-matrix.py)
mkdir -p build/test-logs && echo "$json" >"build/test-logs/features-$(uname -r).json"
