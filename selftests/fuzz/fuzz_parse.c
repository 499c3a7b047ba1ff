// SPDX-License-Identifier: MIT
/*
 * Fuzz what users type: the size and integer parsers (runtime/lib/parse.c)
 * and the whole "bublk add" command line (runtime/cli/cmd_add.c) up to the
 * point where it would create a device. The input is NUL- or
 * newline-separated arguments. Parsed options must satisfy the limits the
 * device code relies on.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dev.h"

static void check_size(const char *s)
{
	uint64_t v = 0;
	int n = 0;

	if (parse_size(s, &v) && v)
		__builtin_trap();		/* a refusal leaves *out alone */
	if (!parse_int(s, -5, 1000, &n) && (n < -5 || n > 1000))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[33];
	struct bublk_dev_opts o;
	bool fg, json;
	int argc = 1, ret;

	memcpy(buf, data, size);
	buf[size] = 0;
	argv[0] = "add";
	for (char *p = buf, *end = buf + size; p <= end && argc < 32;) {
		size_t len = strcspn(p, "\n");

		p[len] = 0;
		argv[argc++] = p;
		check_size(p);
		p += len + 1;
	}
	argv[argc] = NULL;
	ret = add_parse(argc, argv, &o, &fg, &json);
	if (ret < 0) {
		/* accepted: what the device code will trust */
		if (!o.target || o.nr_files > BUBLK_MAX_BACKENDS || o.nr_config > 16 ||
		    o.nr_queues < 1 || o.nr_queues > BUBLK_MAX_QUEUES ||
		    o.depth < 1 || o.depth > BUBLK_MAX_BATCH ||
		    o.max_io_bytes < 4096 || o.max_io_bytes > (32U << 20) || o.max_io_bytes % 4096)
			__builtin_trap();
		for (int i = 0; i < o.nr_files; i++)
			if (!o.files[i] || !*o.files[i])
				__builtin_trap();
	}
	free(buf);
	return 0;
}
