// SPDX-License-Identifier: MIT
/*
 * Fuzz the parser of the JSON state files under /run/bublk
 * (runtime/lib/state_parse.c): "bublk list", "del", "stats" and "recover" trust
 * what they read there, and the files can be damaged or written by someone
 * else. A file the parser accepts must be one bublk could have written:
 * written again and re-read it gives the same struct and the same text,
 * and the options "bublk recover" makes of it are within the limits
 * "bublk add" enforces. A file it refuses comes with a reason and leaves
 * nothing half-filled behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "state.h"

static struct bublk_state st, again;
static const struct bublk_state zero;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bublk_dev_opts o;
	char err[256], *text, *text2;

	/* exactly size bytes, no NUL after them: the parser must take the length */
	if (bublk_state_parse((const char *)data, size, &st, err, sizeof(err))) {
		if (!err[0] || memcmp(&st, &zero, sizeof(st)))
			__builtin_trap();
		return 0;
	}
	text = bublk_state_format(&st, -1);
	if (!text)
		return 0;
	if (bublk_state_parse(text, strlen(text), &again, err, sizeof(err)) ||
	    memcmp(&st, &again, sizeof(st)))
		__builtin_trap();	/* its own output must read back the same */
	text2 = bublk_state_format(&again, -1);
	if (!text2 || strcmp(text, text2))
		__builtin_trap();
	free(text);
	free(text2);

	/* a device still being created has no options to recover it with: recover refuses it first */
	if (st.creating)
		return 0;
	bublk_state_opts(&st, &o);
	if (o.nr_queues < 1 || o.nr_queues > BUBLK_MAX_QUEUES ||
	    o.depth < 1 || o.depth > UBLK_MAX_QUEUE_DEPTH ||
	    o.max_io_bytes < BUBLK_MIN_IO_BYTES || o.max_io_bytes > BUBLK_MAX_IO_BYTES ||
	    o.max_io_bytes % BUBLK_MIN_IO_BYTES ||
	    (o.block_size != 512 && o.block_size != 4096) || !o.size || o.size % o.block_size ||
	    o.nr_files < 0 || o.nr_files + (o.base != NULL) > BUBLK_MAX_BACKENDS ||
	    o.nr_config < 0 || o.nr_config > BUBLK_MAX_CONFIG ||
	    !o.target || !o.target[0])
		__builtin_trap();
	for (int i = 0; i < o.nr_files; i++)
		if (!o.files[i][0])
			__builtin_trap();
	return 0;
}
