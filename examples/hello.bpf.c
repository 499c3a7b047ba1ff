/* SPDX-License-Identifier: MIT */
/*
 * hello: the smallest useful bublk target, commented for copying.
 *
 * The device is one backing file, starting "skip" bytes into it (so a
 * file with a 1 MiB header can be served without the header). Each
 * request becomes one segment; a map counts requests and bytes per op so
 * you can watch it work:
 *
 *   bublk add -t ./hello.bpf.o -f disk.img --set skip=1M
 *   bpftool map dump pinned /sys/fs/bpf/bublk/0/hello_counts
 *
 * Build: make -C examples   (see examples/Makefile and docs/writing-targets.md)
 */
#include "bublk.bpf.h"	/* the ABI, the maps, BUBLK_TARGET() & co */

/*
 * Options: one struct in a map called bublk_config. "bublk add --set
 * skip=1M" writes the member named skip; bpftool shows it by name.
 */
struct hello_config {
	__u64	skip;		/* bytes of the file before the device starts */
};
BUBLK_CONFIG(struct hello_config);

/* Counters, per op (index = enum bublk_op): an ordinary map with BTF. */
struct hello_count {
	__u64	requests;
	__u64	bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct hello_count);
} hello_counts SEC(".maps");

/*
 * The map function: called once per request, inside one BPF_PROG_RUN per
 * batch. It describes the work as segments ("read len bytes of backend 0
 * at this offset into the request's data at data_off") and returns
 * BUBLK_ACT_EXEC, or finishes the request at once with bublk_complete().
 * The runtime checks every segment before it does anything.
 */
static __always_inline int hello_map(const struct bublk_req *rq, struct bublk_emit *e)
{
	struct hello_config *cfg = bublk_config_get();
	__u32 op = rq->op;
	struct hello_count *c = bpf_map_lookup_elem(&hello_counts, &op);
	__u64 at;

	if (!cfg)
		return bublk_complete(e, -EIO);
	if (c) {
		/* several queues run this at once: atomic adds */
		__sync_fetch_and_add(&c->requests, 1);
		__sync_fetch_and_add(&c->bytes, rq->len);
	}
	at = cfg->skip + rq->offset;
	switch (rq->op) {
	case BUBLK_OP_READ:
		bublk_emit(e, BUBLK_SEG_READ, 0, at, 0, rq->len);
		return BUBLK_ACT_EXEC;
	case BUBLK_OP_WRITE:
		bublk_emit(e, BUBLK_SEG_WRITE, 0, at, 0, rq->len);
		return BUBLK_ACT_EXEC;
	case BUBLK_OP_FLUSH:
		bublk_emit(e, BUBLK_SEG_FLUSH, 0, 0, 0, 0);
		return BUBLK_ACT_EXEC;
	case BUBLK_OP_DISCARD:
		bublk_emit(e, BUBLK_SEG_DISCARD, 0, at, 0, rq->len);
		return BUBLK_ACT_EXEC;
	case BUBLK_OP_WRITE_ZEROES:
		bublk_emit(e, BUBLK_SEG_WRITE_ZEROES, 0, at, 0, rq->len);
		return BUBLK_ACT_EXEC;
	}
	return bublk_complete(e, -EOPNOTSUPP);	/* never silently succeed */
}

/* what "bublk add -t hello.bpf.o --help" prints */
BUBLK_HELP("hello: one backing file, from byte \"skip\" on; counts requests per op\n"
	   "in the map hello_counts.\n"
	   "  bublk add -t ./hello.bpf.o -f disk.img --set skip=1M");

/* the name, the ABI stamp the loader checks, and the batch dispatcher */
BUBLK_TARGET("hello", hello_map);

/*
 * Optional: runs once when the device is created, after the options were
 * written. Check them, and choose the device size if the user gave none.
 * bublk_refuse(-errno, "why") refuses the device; bublk add prints why.
 */
static int hello_init(struct bublk_dev_info *di)
{
	struct hello_config *cfg = bublk_config_get();

	if (!cfg)
		return -EINVAL;
	if (di->nr_backends != 1)
		return bublk_refuse(-EINVAL, "hello needs exactly one backing file (-f FILE)");
	if (cfg->skip % 4096)
		return bublk_refuse(-EDOM, "skip must be a multiple of 4K");
	if (cfg->skip >= di->backend_size[0])
		return bublk_refuse(-ENOSPC, "skip is past the end of the backing file");
	if (!di->size)
		di->size = di->backend_size[0] - cfg->skip;
	if (cfg->skip + di->size > di->backend_size[0])
		return bublk_refuse(-ENOSPC, "the backing file is too small for this size after skip");
	return 0;
}
BUBLK_INIT(hello_init);
