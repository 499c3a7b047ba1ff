// SPDX-License-Identifier: MIT
/*
 * Fuzz what users type: the size and integer parsers (runtime/lib/parse.c)
 * and the whole "bublk add" command line (runtime/cli/cmd_add.c) up to the
 * point where it would create a device. The input is NUL- or
 * newline-separated arguments. Parsed options must satisfy the limits the
 * device code relies on, spelled with the constants it uses (dev.h,
 * bublk/abi.h, bublk/ublk_uapi.h), and hold what the user typed.
 */
#include <errno.h>
#include <stdbool.h>
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
		/*
		 * accepted: what the device code will trust (dev.c's check_opts
		 * and the arrays in struct bublk_dev_opts), by the same constants
		 */
		if (!o.target || o.nr_files < 0 || o.nr_files > BUBLK_MAX_BACKENDS ||
		    o.nr_config < 0 || o.nr_config > BUBLK_MAX_CONFIG ||
		    o.nr_htlb < 0 || o.nr_htlb > BUBLK_MAX_HTLB ||
		    o.nr_queues < 1 || o.nr_queues > BUBLK_MAX_QUEUES ||
		    o.depth < 1 || o.depth > UBLK_MAX_QUEUE_DEPTH ||
		    o.max_io_bytes < BUBLK_MIN_IO_BYTES || o.max_io_bytes > BUBLK_MAX_IO_BYTES ||
		    o.max_io_bytes % BUBLK_MIN_IO_BYTES ||
		    (o.block_size && o.block_size != 512 && o.block_size != 4096))
			__builtin_trap();
		for (int i = 0; i < o.nr_files; i++)
			if (!o.files[i] || !*o.files[i])
				__builtin_trap();
		/*
		 * a target option is what the user typed: --set's argument in
		 * place, or "chunk=" and --chunk's argument whole (the end of an
		 * argument: "--chunk=V" counts)
		 */
		for (int i = 0; i < o.nr_config; i++) {
			const char *c = o.config[i];
			bool typed;

			if (!c)
				__builtin_trap();
			typed = c >= buf && c <= buf + size;
			for (int a = 1; a < argc && !typed && !strncmp(c, "chunk=", 6); a++) {
				size_t l = strlen(c + 6), al = strlen(argv[a]);

				typed = al >= l && !strcmp(argv[a] + al - l, c + 6);
			}
			if (!typed)
				__builtin_trap();
		}
	}
	free(buf);
	return 0;
}
