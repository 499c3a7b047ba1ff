// SPDX-License-Identifier: MIT
/*
 * Fuzz the reader of the JSON state files under /run/bublk
 * (runtime/lib/state.c): "bublk list", "del" and "recover" trust what they
 * read there, and the files can be damaged or written by someone else.
 * Every key bublk looks up, into exactly sized buffers; then what "bublk
 * recover" makes of the file (recover_parse_state): the options it
 * accepts must be the numbers the file holds, not a truncation of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dev.h"
#include "state.h"

static const char *const keys[] = {
	"dev_id", "pid", "block", "target", "object", "size", "queues", "depth",
	"max_io_bytes", "data_mode", "files", "config", "path", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = malloc(size + 1);
	size_t lens[] = { 1, 8, 64 };

	memcpy(json, data, size);
	json[size] = 0;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		unsigned long long v;

		bublk_json_get_u64(json, keys[k], &v);
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			char *out = malloc(lens[l]);

			if (!bublk_json_get_str(json, keys[k], out, lens[l]) &&
			    strnlen(out, lens[l]) >= lens[l])
				__builtin_trap();	/* must be NUL-terminated inside */
			free(out);
		}
	}
	{
		static struct recover_state rs;
		struct bublk_dev_opts o;
		unsigned long long q = 0, d = 0, m = 0;

		if (!recover_parse_state(json, &rs, &o)) {
			bublk_json_get_u64(json, "queues", &q);
			bublk_json_get_u64(json, "depth", &d);
			bublk_json_get_u64(json, "max_io_bytes", &m);
			if ((unsigned long long)o.nr_queues != q || (unsigned long long)o.depth != d ||
			    o.max_io_bytes != m || o.nr_files > BUBLK_MAX_BACKENDS || o.nr_config > 16 ||
			    !o.target)
				__builtin_trap();
		}
	}
	free(json);
	return 0;
}
