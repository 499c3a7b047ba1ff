// SPDX-License-Identifier: MIT
/*
 * Fuzz target options ("bublk add --set key=value", loader/config.c)
 * against a synthetic BTF struct with every kind of member a target could
 * declare: u8/u16/u32/u64, an enum, a typedef, a bitfield, an array, a
 * pointer. The input is newline-separated options. The value buffer is
 * exactly the struct's size, so a write outside it is caught by ASan.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/btf.h>

#include "loader.h"

static struct btf *btf;
static int struct_id, liar_id;

/* struct opts { u8 a; u16 b; u32 c; u64 chunk; enum e mode; u64_t t; u32 bits:3; u32 arr[2]; void *p; } */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int u8, u16, u32, u64, e, td, arr, ptr;

	(void)argc;
	(void)argv;
	btf = btf__new_empty();
	u8 = btf__add_int(btf, "u8", 1, 0);
	u16 = btf__add_int(btf, "u16", 2, 0);
	u32 = btf__add_int(btf, "u32", 4, 0);
	u64 = btf__add_int(btf, "u64", 8, 0);
	e = btf__add_enum(btf, "e", 4);
	btf__add_enum_value(btf, "E0", 0);
	btf__add_enum_value(btf, "E1", 1);
	td = btf__add_typedef(btf, "u64_t", u64);
	arr = btf__add_array(btf, u32, u32, 2);
	ptr = btf__add_ptr(btf, 0);
	struct_id = btf__add_struct(btf, "opts", 48);
	btf__add_field(btf, "a", u8, 0, 0);
	btf__add_field(btf, "b", u16, 16, 0);
	btf__add_field(btf, "c", u32, 32, 0);
	btf__add_field(btf, "chunk", u64, 64, 0);
	btf__add_field(btf, "mode", e, 128, 0);
	btf__add_field(btf, "bits", u32, 160, 3);
	btf__add_field(btf, "arr", arr, 192, 0);
	btf__add_field(btf, "t", td, 256, 0);
	btf__add_field(btf, "p", ptr, 320, 0);
	/* a struct whose BTF claims more than the map value holds */
	liar_id = btf__add_struct(btf, "liar", 16);
	btf__add_field(btf, "x", u64, 0, 0);
	btf__add_field(btf, "y", u64, 64, 0);
	btf__add_field(btf, "z", u64, 128, 0);
	if (struct_id < 0 || liar_id < 0 || ptr < 0 || td < 0 || arr < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *cfg[16], err[512];
	unsigned char *value = calloc(1, 48), *small = calloc(1, 16);
	int n = 0;

	memcpy(buf, data, size);
	buf[size] = 0;
	for (char *p = buf, *end = buf + size; p <= end && n < 16;) {
		size_t len = strcspn(p, "\n");

		p[len] = 0;
		cfg[n++] = p;
		p += len + 1;
	}
	err[0] = 0;
	if (bublk_config_apply(btf, struct_id, value, 48, (const char *const *)cfg, n, err,
			       sizeof(err)) && !err[0])
		__builtin_trap();		/* every refusal says why */
	bublk_config_apply(btf, liar_id, small, 16, (const char *const *)cfg, n, err, sizeof(err));
	free(value);
	free(small);
	free(buf);
	return 0;
}
