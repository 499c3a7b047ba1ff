/* SPDX-License-Identifier: MIT */
/*
 * What a bublk target author includes.
 *
 * A target is one BPF object. It writes a map function
 *
 *	static __always_inline int my_map(const struct bublk_req *rq,
 *					  struct bublk_emit *e)
 *
 * that looks at one request (op, device offset, length, flags) and either
 * emits segments with bublk_emit() and returns BUBLK_ACT_EXEC, or answers
 * at once with bublk_complete(e, err). BUBLK_TARGET("name", my_map) then
 * generates everything the runtime needs: the ABI stamp, the arena and
 * device maps, and the "bublk_dispatch" program that runs my_map over a
 * whole batch of requests in one BPF_PROG_RUN.
 *
 * Debian's libbpf 1.1 cannot handle global __arena variables, so the arena
 * is only reached through addresses the runtime hands in (struct
 * bublk_batch); every page of it is populated by the runtime before the
 * first dispatch.
 */
#ifndef BUBLK_BPF_H
#define BUBLK_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bublk/abi.h>

#ifndef __BPF_FEATURE_ADDR_SPACE_CAST
#error "bublk targets need clang >= 18 (BPF address space casts for the arena)"
#endif
#define __arena __attribute__((address_space(1)))

#ifndef E2BIG
#define EPERM		1
#define EIO		5
#define E2BIG		7
#define EINVAL		22
#define ENOSPC		28
#define EDOM		33
#define ERANGE		34
#define EOPNOTSUPP	95
#endif

/* the device's arena: sized and placed at BUBLK_ARENA_ADDR by the loader */
struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
} bublk_arena SEC(".maps");

/* the device as created: size, queues, backends and their sizes */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bublk_dev_info);
} bublk_dev SEC(".maps");

/*
 * A program touching arena memory must reference the arena map, or the
 * verifier refuses its address-space casts (libbpf >= 1.4 does this
 * implicitly for arena globals; 1.1 needs it spelled out).
 */
#define bublk_use_arena() asm volatile("" :: "r"(&bublk_arena))

static __always_inline struct bublk_dev_info *bublk_dev_info(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&bublk_dev, &zero);
}

/*
 * BUBLK_CONFIG(struct my_options): the target's options, set with
 * "bublk add -t T --set key=value" (or bpftool), read with bublk_config().
 */
#define BUBLK_CONFIG(cfg_type)							\
struct {									\
	__uint(type, BPF_MAP_TYPE_ARRAY);					\
	__uint(max_entries, 1);							\
	__type(key, __u32);							\
	__type(value, cfg_type);							\
} bublk_config SEC(".maps");							\
static __always_inline cfg_type *bublk_config_get(void)				\
{										\
	__u32 zero = 0;								\
										\
	return bpf_map_lookup_elem(&bublk_config, &zero);			\
}

/* where a map function writes its answer for one request */
struct bublk_emit {
	__u64	segs;		/* arena address of this request's descriptors */
	__u32	max;		/* room, in descriptors */
	__u32	n;		/* written so far */
	__s32	result;		/* for bublk_complete() */
};

/* append one descriptor; -E2BIG when the request's room is full */
static __always_inline int bublk_emit(struct bublk_emit *e, __u8 op, __u16 backend,
				      __u64 backend_off, __u64 data_off, __u32 len)
{
	/*
	 * volatile: clang-19 may merge adjacent stores into a memset whose
	 * expansion forgets the arena address space; volatile stores stay
	 * individual stores through the cast pointer.
	 */
	volatile struct bublk_seg __arena *s;

	if (e->n >= e->max || e->n >= BUBLK_MAX_SEGS)
		return -E2BIG;
	s = (volatile struct bublk_seg __arena *)(e->segs + (__u64)e->n * sizeof(struct bublk_seg));
	s->op = op;
	s->stage = 0;
	s->backend = backend;
	s->len = len;
	s->backend_off = backend_off;
	s->data_off = data_off;
	s->reserved = 0;
	e->n++;
	return 0;
}

/* finish the request without segments: err 0 = success, or -errno */
static __always_inline int bublk_complete(struct bublk_emit *e, int err)
{
	e->result = err;
	return BUBLK_ACT_COMPLETE;
}

struct __bublk_loop {
	__u64	reqs;
	__u64	segs;
	__u64	tags;
	__u32	max_segs;
	__u32	depth;
	__u32	answered;
};

/*
 * BUBLK_TARGET(name, map_fn): the ABI stamp the loader checks, the target's
 * name, and the batch dispatcher. bpf_loop() keeps the per-request body
 * verified once, whatever the batch size, on every kernel we support.
 */
#define BUBLK_TARGET(tname, map_fn)						\
const volatile __u32 bublk_abi_version = BUBLK_ABI_VERSION;			\
const volatile char bublk_target_name[32] = tname;				\
										\
static long __bublk_dispatch_one(__u64 i, void *data)				\
{										\
	struct __bublk_loop *l = data;						\
	volatile struct bublk_req __arena *ar;					\
	struct bublk_emit e;							\
	struct bublk_req rq;							\
	__u16 __arena *tagp;							\
	__u32 tag;								\
	int act;								\
										\
	tagp = (__u16 __arena *)(l->tags + i * sizeof(__u16));			\
	tag = *tagp;								\
	if (tag >= l->depth)							\
		return 0;							\
	ar = (volatile struct bublk_req __arena *)(l->reqs + tag * sizeof(struct bublk_req)); \
	rq.tag = ar->tag;							\
	rq.q_id = ar->q_id;							\
	rq.op = ar->op;								\
	rq.buf_kind = ar->buf_kind;						\
	rq.flags = ar->flags;							\
	rq.len = ar->len;							\
	rq.offset = ar->offset;							\
	rq.result = 0;								\
	rq.nr_segs = 0;								\
	rq.action = 0;								\
	e.segs = l->segs + (__u64)tag * l->max_segs * sizeof(struct bublk_seg);	\
	e.max = l->max_segs;							\
	e.n = 0;								\
	e.result = 0;								\
	act = map_fn(&rq, &e);							\
	ar->action = act;							\
	ar->nr_segs = e.n;							\
	ar->result = e.result;							\
	l->answered++;								\
	return 0;								\
}										\
										\
SEC("syscall")									\
int bublk_dispatch(struct bublk_batch *ctx)					\
{										\
	struct __bublk_loop l;							\
	__u32 nr = ctx->nr;							\
										\
	bublk_use_arena();							\
	if (nr > BUBLK_MAX_BATCH)						\
		nr = BUBLK_MAX_BATCH;						\
	l.reqs = ctx->reqs;							\
	l.segs = ctx->segs;							\
	l.tags = ctx->tags;							\
	l.max_segs = ctx->max_segs;						\
	l.depth = ctx->depth;							\
	l.answered = 0;								\
	bpf_loop(nr, __bublk_dispatch_one, &l, 0);				\
	ctx->answered = l.answered;						\
	return 0;								\
}										\
char _license[] SEC("license") = "GPL"

#endif /* BUBLK_BPF_H */
