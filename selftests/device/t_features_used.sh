#!/bin/bash
# bublk features --json says of every feature the kernel reports whether
# bublk uses it: the control-plane features it drives are "used": true,
# the data modes it does not have yet are "used": false.
. "$(dirname "$0")/lib.sh"

json=$("$BUBLK" features --json) || die "features --json failed"
n=$(echo "$json" | grep -o '"bit": [0-9]*' | wc -l)
u=$(echo "$json" | grep -o '"used": \(true\|false\)' | wc -l)
[ "$n" -gt 0 ] && [ "$n" = "$u" ] || die "$n features but $u \"used\" fields: $json"
used() {	# NAME -> true|false|"" (absent on this kernel)
	echo "$json" | grep -o "\"name\": \"$1\", \"used\": [a-z]*" | sed 's/.*: //'
}
for f in USER_COPY USER_RECOVERY CMD_IOCTL_ENCODE RECOVERY_FAIL_IO UPDATE_SIZE QUIESCE \
	SAFE_STOP_DEV NO_AUTO_PART_SCAN AUTO_BUF_REG ZERO_COPY BATCH_IO; do
	case "$(used $f)" in
	true | "") ;;
	*) die "$f present but not marked used: $json" ;;
	esac
done
for f in INTEGRITY UNPRIVILEGED ZONED; do
	case "$(used $f)" in
	false | "") ;;
	*) die "$f marked used: $json" ;;
	esac
done
[ "$(used USER_COPY)" = true ] || die "USER_COPY (every kernel since 6.5 has it) not marked used: $json"
echo "features --json: $n features, each with \"used\"; $(echo "$json" | grep -o '"used": true' | wc -l) used by bublk"
