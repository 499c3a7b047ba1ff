#!/bin/bash
# bublk, with $BUBLK_TEST_ADD_ARGS added to every "bublk add" (lib.sh puts
# this in $BUBLK when that is set): the whole device suite once more with
# e.g. --batch (make test-batch). Everything else goes to the real binary
# as it is.
if [ "${1:-}" = add ]; then
	shift
	# shellcheck disable=SC2086 # several options, split on purpose
	set -- add $BUBLK_TEST_ADD_ARGS "$@"
fi
exec "$BUBLK_REAL" "$@"
