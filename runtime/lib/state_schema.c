// SPDX-License-Identifier: MIT
/*
 * The state file's keys, in the file's order (the order is its
 * documentation: identity, shape, modes, then the nested parts; tests grep
 * the flat part of the line), with the limits "bublk add" itself enforces
 * (add_parse, check_opts), so what the parser accepts can be served
 * (bublk recover) and printed (bublk list) as is.
 */
#include <limits.h>
#include <stdint.h>

#include "dev.h"
#include "state_schema.h"
#include "util.h"

#define FIELD(f)	.off = offsetof(struct bublk_state, f), .size = sizeof(((struct bublk_state *)0)->f)

/* in the order of enum bublk_data_mode from BUBLK_MODE_COPY */
static const char *const data_modes[] = { "copy", "user_copy", "zero_copy", "zero_copy_manual", NULL };
static const char *const dispatch[] = { "bpf", "c", NULL };
static const char *const engines[] = { "user", "kernel", NULL };
static const char *const states[] = { "live", "creating", NULL };

#define KEY(k, t)	.key = k, .type = t
#define RANGE(lo, hi)	.min = lo, .max = hi

const struct bublk_state_field bublk_state_fields[] = {
	{ KEY("dev_id", SF_U32),	FIELD(dev_id), RANGE(0, INT_MAX) },
	{ KEY("pid", SF_INT),		FIELD(pid), RANGE(0, INT_MAX) },
	{ KEY("schema", SF_SCHEMA),	.flags = SF_HEADER },
	/* files written before "state" existed are all of live devices */
	{ KEY("state", SF_ENUM),	FIELD(creating), .names = states,
					.flags = SF_HEADER | SF_OPTIONAL },
	{ KEY("block", SF_DEVNODE),	.fmt = "/dev/ublkb%u" },
	{ KEY("char", SF_DEVNODE),	.fmt = "/dev/ublkc%u" },
	{ KEY("target", SF_STR),	FIELD(target) },
	{ KEY("object", SF_STR),	FIELD(object) },
	/* a device being created may not know its size yet (the target chooses it) */
	{ KEY("size", SF_U64),		FIELD(size), RANGE(1, UINT64_MAX),
					.flags = SF_CREATING_0 | SF_AFTER_NEXT, .check = SF_CHECK_BLOCKS },
	{ KEY("block_size", SF_U32),	FIELD(block_size), RANGE(512, 4096),
					.check = SF_CHECK_BLOCK_SIZE },
	{ KEY("rotational", SF_BOOL),	FIELD(rotational) },
	{ KEY("readonly", SF_BOOL),	FIELD(readonly) },
	{ KEY("queues", SF_INT),	FIELD(nr_queues), RANGE(1, BUBLK_MAX_QUEUES) },
	{ KEY("depth", SF_INT),		FIELD(depth), RANGE(1, UBLK_MAX_QUEUE_DEPTH) },
	{ KEY("max_io_bytes", SF_U32),	FIELD(max_io_bytes), RANGE(BUBLK_PAGE_SIZE, 1U << UBLK_IO_BUF_BITS),
					.check = SF_CHECK_PAGES },
	{ KEY("data_mode", SF_ENUM),	FIELD(data_mode), .min = BUBLK_MODE_COPY, .names = data_modes },
	{ KEY("flags", SF_U64),		FIELD(flags), RANGE(0, UINT64_MAX) },
	{ KEY("legacy_opcodes", SF_BOOL), FIELD(legacy) },
	{ KEY("recovery", SF_BOOL),	FIELD(recovery) },
	{ KEY("dispatch", SF_ENUM),	FIELD(dispatch_c), .names = dispatch },
	/* files written before the kernel engine existed are all of the user engine */
	{ KEY("engine", SF_ENUM),	FIELD(engine_kernel), .names = engines, .flags = SF_OPTIONAL },
	{ KEY("shmem_zc", SF_BOOL),	FIELD(shmem_zc) },
	{ KEY("shmem_socket", SF_STR),	FIELD(shmem_socket), .flags = SF_SHMEM },
	{ KEY("shmem_sg_hook", SF_BOOL), FIELD(shmem_sg_hook), .flags = SF_SHMEM },
	{ KEY("options", SF_OPTIONS) },
	{ KEY("backends", SF_BACKENDS) },
	{ KEY("bpf", SF_BPF) },
};
const size_t bublk_state_nr_fields = ARRAY_SIZE(bublk_state_fields);

int bublk_state_enum_index(const struct bublk_state_field *f, const struct bublk_state *st)
{
	const char *p = (const char *)st + f->off;
	long long v = f->size == sizeof(bool) ? *(const bool *)p : *(const int *)p;
	int n = 0;

	while (f->names[n])
		n++;
	v -= (long long)f->min;
	return v >= 0 && v < n ? (int)v : 0;
}

const char *bublk_data_mode_name(int data_mode)
{
	int i = data_mode - BUBLK_MODE_COPY;

	return i >= 0 && i < (int)ARRAY_SIZE(data_modes) - 1 ? data_modes[i] : "copy";
}
