// SPDX-License-Identifier: MIT
/*
 * Fuzz the reader of the JSON state files under /run/bublk
 * (runtime/lib/state.c): "bublk list", "del" and "recover" trust what they
 * read there, and the files can be damaged or written by someone else.
 * Every key bublk looks up, into exactly sized buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	free(json);
	return 0;
}
