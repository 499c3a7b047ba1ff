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
 * The rest of a target's shape is declared the same way, each at most once:
 *
 *	BUBLK_HELP("...");		what "bublk add -t NAME --help" says
 *	BUBLK_CONFIG(struct my_opts);	its --set options
 *	BUBLK_INIT(my_init);		check the device, choose its size
 *	BUBLK_DONE(my_done);		react to finished segments
 *	BUBLK_PRELOAD(pages);		on-disk state to read at start ...
 *	BUBLK_LOAD(my_load);		... and the hook that reads it
 *	BUBLK_RESIZE(my_resize);	accept or refuse "bublk resize"
 *
 * Each generates the program the runtime runs for that role, under the one
 * name the loader knows it by; no target names a program itself. A hook
 * that refuses says why with bublk_refuse(-errno, "reason").
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
 * Written by the runtime, one entry per queue, mmapped: the counters and
 * the trace ring users read with bpftool (docs/inspecting.md). Every
 * target carries them so that their BTF (field names) is in the object.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, BUBLK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct bublk_stats);
} bublk_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, BUBLK_MAX_QUEUES * BUBLK_TRACE_PER_QUEUE);
	__type(key, __u32);
	__type(value, struct bublk_trace_rec);
} bublk_trace SEC(".maps");

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

/* the smallest of the first n backends (n <= BUBLK_MAX_BACKENDS), for bublk_init */
static __always_inline __u64 bublk_min_backend_size(const struct bublk_dev_info *di, __u32 n)
{
	__u64 min = ~0ULL;

	for (__u32 i = 0; i < BUBLK_MAX_BACKENDS; i++) {
		__u32 k = i;

		/*
		 * Hide k from the optimizer so it indexes (masked, provably in
		 * bounds) instead of walking a pointer the verifier cannot bound.
		 */
		asm volatile("" : "+r"(k));
		if (k >= n)
			break;
		if (di->backend_size[k & (BUBLK_MAX_BACKENDS - 1)] < min)
			min = di->backend_size[k & (BUBLK_MAX_BACKENDS - 1)];
	}
	return min;
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

/*
 * BUBLK_PRELOAD(pages): room for on-disk state the runtime copies in at
 * start (see struct bublk_dev_info.preload_*); the BUBLK_LOAD hook then
 * turns it into the target's maps.
 */
#define BUBLK_PRELOAD(pages)							\
struct {									\
	__uint(type, BPF_MAP_TYPE_ARRAY);					\
	__uint(max_entries, pages);						\
	__type(key, __u32);							\
	__type(value, struct bublk_page);					\
} bublk_preload SEC(".maps")

/*
 * Why the target refused: bublk_refuse(-errno, "reason") writes the reason
 * here and returns -errno; the loader prints it with the error (in the
 * spirit of sched_ext's UEI_RECORD). Cleared before each hook runs.
 */
char bublk_reason[BUBLK_REASON_LEN] __attribute__((aligned(8)));

/*
 * return bublk_refuse(-EDOM, "chunk must be a power of two >= 4K");
 * reason: a string literal (copied as constant stores, no helper call).
 */
#define bublk_refuse(err, reason)						\
({										\
	_Static_assert(sizeof(reason) <= BUBLK_REASON_LEN,			\
		       "bublk_refuse: the reason is longer than 127 characters");	\
	__builtin_memcpy(bublk_reason, reason, sizeof(reason));			\
	(err);									\
})

/*
 * BUBLK_HELP("..."): what "bublk add -t NAME --help" prints about the
 * target; its first line is the target's entry in "bublk add --help".
 */
#define BUBLK_HELP(text) const volatile char bublk_target_help[] = text

/* where a map function writes its answer for one request */
struct bublk_emit {
	__u64	segs;		/* arena address of this request's descriptors */
	__u64	scratch;	/* arena address of this tag's scratch bytes */
	__u32	max;		/* room, in descriptors */
	__u32	n;		/* written so far */
	__s32	result;		/* for bublk_complete() */
	__u32	scratch_size;
	__u32	nr_prev;	/* bublk_done: segments of the round that just ended */
	__u8	notify;		/* bublk_notify(): run bublk_done at the end */
};

/*
 * Append one descriptor; -E2BIG when the request's room is full.
 * stage: 0 first, then 1, ... (non-decreasing within a request);
 * flags: BUBLK_SEG_F_ARENA when data_off is into bublk_scratch().
 */
static __always_inline int bublk_emit_seg(struct bublk_emit *e, __u8 stage, __u8 op,
					  __u16 backend, __u64 backend_off, __u64 data_off,
					  __u32 len, __u32 flags)
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
	s->stage = stage;
	s->backend = backend;
	s->len = len;
	s->backend_off = backend_off;
	s->data_off = data_off;
	s->flags = flags;
	s->result = 0;
	e->n++;
	return 0;
}

/* the common case: stage 0, data from/to the request */
static __always_inline int bublk_emit(struct bublk_emit *e, __u8 op, __u16 backend,
				      __u64 backend_off, __u64 data_off, __u32 len)
{
	return bublk_emit_seg(e, 0, op, backend, backend_off, data_off, len, 0);
}

/* zero len bytes of a READ's data at data_off (no backend I/O) */
static __always_inline int bublk_zero_fill(struct bublk_emit *e, __u8 stage, __u64 data_off,
					   __u32 len)
{
	return bublk_emit_seg(e, stage, BUBLK_SEG_ZERO_FILL, 0, 0, data_off, len, 0);
}

/*
 * This tag's scratch: BUBLK_SCRATCH_SIZE arena bytes the target owns while
 * the request is in flight (metadata to write, or a place to read into).
 * Write through volatile pointers (see bublk_emit_seg).
 */
static __always_inline volatile __u8 __arena *bublk_scratch(struct bublk_emit *e)
{
	return (volatile __u8 __arena *)e->scratch;
}

/* ask for bublk_done when this request's segments have finished */
static __always_inline void bublk_notify(struct bublk_emit *e)
{
	e->notify = 1;
}

/* finish the request without (more) segments: err 0 = success, or -errno */
static __always_inline int bublk_complete(struct bublk_emit *e, int err)
{
	e->result = err;
	return BUBLK_ACT_COMPLETE;
}

/*
 * bublk_done: segment i of the round that just ended, with its result
 * (0, -errno or BUBLK_SEG_NOT_RUN). Read what you need before emitting:
 * follow-up segments are written over the same slots.
 */
static __always_inline int bublk_prev_seg(struct bublk_emit *e, __u32 i, struct bublk_seg *out)
{
	volatile struct bublk_seg __arena *s;

	if (i >= e->nr_prev || i >= BUBLK_MAX_SEGS)
		return -E2BIG;
	s = (volatile struct bublk_seg __arena *)(e->segs + (__u64)i * sizeof(struct bublk_seg));
	out->op = s->op;
	out->stage = s->stage;
	out->backend = s->backend;
	out->len = s->len;
	out->backend_off = s->backend_off;
	out->data_off = s->data_off;
	out->flags = s->flags;
	out->result = s->result;
	return 0;
}

struct __bublk_loop {
	__u64	reqs;
	__u64	segs;
	__u64	tags;
	__u64	scratch;
	__u32	max_segs;
	__u32	depth;
	__u32	answered;
	__u32	scratch_size;
};

/*
 * One request of a batch: read its slot, run fn, write the answer back.
 * Shared by bublk_dispatch (round 0) and bublk_done (later rounds).
 */
#define __BUBLK_RUN_ONE(fn, i, l)						\
({										\
	volatile struct bublk_req __arena *ar;					\
	struct bublk_emit e;							\
	struct bublk_req rq;							\
	__u16 __arena *tagp;							\
	__u32 tag;								\
	int act;								\
										\
	tagp = (__u16 __arena *)((l)->tags + (i) * sizeof(__u16));		\
	tag = *tagp;								\
	if (tag < (l)->depth) {							\
		ar = (volatile struct bublk_req __arena *)((l)->reqs +		\
			tag * sizeof(struct bublk_req));			\
		rq.tag = ar->tag;						\
		rq.q_id = ar->q_id;						\
		rq.op = ar->op;							\
		rq.buf_kind = ar->buf_kind;					\
		rq.round = ar->round;						\
		rq.flags = ar->flags;						\
		rq.len = ar->len;						\
		rq.offset = ar->offset;						\
		rq.result = ar->result;						\
		rq.nr_segs = ar->nr_segs;					\
		rq.action = 0;							\
		rq.notify = 0;							\
		e.segs = (l)->segs + (__u64)tag * (l)->max_segs * sizeof(struct bublk_seg); \
		e.scratch = (l)->scratch + (__u64)tag * (l)->scratch_size;	\
		e.scratch_size = (l)->scratch_size;				\
		e.max = (l)->max_segs;						\
		e.n = 0;							\
		e.result = 0;							\
		e.nr_prev = rq.nr_segs;						\
		e.notify = 0;							\
		act = fn(&rq, &e);						\
		ar->action = act;						\
		ar->nr_segs = e.n;						\
		ar->result = e.result;						\
		ar->notify = e.notify;						\
		(l)->answered++;						\
	}									\
	0;									\
})

#define __BUBLK_BATCH_PROG(prog, cb)						\
SEC("syscall")									\
int prog(struct bublk_batch *ctx)						\
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
	l.scratch = ctx->scratch;						\
	l.scratch_size = ctx->scratch_size;					\
	l.max_segs = ctx->max_segs;						\
	l.depth = ctx->depth;							\
	l.answered = 0;								\
	bpf_loop(nr, cb, &l, 0);						\
	ctx->answered = l.answered;						\
	return 0;								\
}

/*
 * BUBLK_TARGET(name, map_fn): the ABI stamp the loader checks, the target's
 * name, and the batch dispatcher. bpf_loop() keeps the per-request body
 * verified once, whatever the batch size, on every kernel we support.
 * map_fn(const struct bublk_req *rq, struct bublk_emit *e) returns an
 * enum bublk_action.
 */
#define BUBLK_TARGET(tname, map_fn)						\
const volatile __u32 bublk_abi_version = BUBLK_ABI_VERSION;			\
const volatile char bublk_target_name[32] = tname;				\
										\
static long __bublk_dispatch_one(__u64 i, void *data)				\
{										\
	struct __bublk_loop *l = data;						\
										\
	return __BUBLK_RUN_ONE(map_fn, i, l);					\
}										\
__BUBLK_BATCH_PROG(bublk_dispatch, __bublk_dispatch_one)			\
__BUBLK_ENGINE_PROG(map_fn)							\
char _license[] SEC("license") = "GPL"

/*
 * Built with -DBUBLK_ENGINE_KERNEL (NAME.kern.o, Linux 7.1+ only): the
 * same map function also runs inside the kernel, in bublk's loop_step
 * program (engine.bpf.h, docs/kernel-engine.md).
 */
#ifdef BUBLK_ENGINE_KERNEL
#include "engine.bpf.h"
#define __BUBLK_ENGINE_PROG(map_fn) BUBLK_ENGINE(map_fn)
#else
#define __BUBLK_ENGINE_PROG(map_fn)
#endif

/*
 * BUBLK_DONE(done_fn): the optional completion program. done_fn(rq, e)
 * runs for requests that called bublk_notify() or had a segment fail;
 * rq->result is the first failure (or 0), rq->round counts the rounds,
 * bublk_prev_seg() reads each segment and its result. It returns
 * bublk_complete(e, err) to finish, or BUBLK_ACT_EXEC with new segments.
 */
#define BUBLK_DONE(done_fn)							\
static long __bublk_done_one(__u64 i, void *data)				\
{										\
	struct __bublk_loop *l = data;						\
										\
	return __BUBLK_RUN_ONE(done_fn, i, l);					\
}										\
__BUBLK_BATCH_PROG(bublk_done, __bublk_done_one)

/*
 * BUBLK_INIT(init_fn): runs once, after the options were written and before
 * the device goes live. int init_fn(struct bublk_dev_info *di) checks the
 * device (backends and their sizes, options), may set di->size (0 = the
 * user gave none) and other fields, and returns 0 or refuses with
 * bublk_refuse(-errno, "why").
 */
#define BUBLK_INIT(init_fn)							\
SEC("syscall")									\
int bublk_init(void *ctx)							\
{										\
	struct bublk_dev_info *di = bublk_dev_info();				\
										\
	bublk_reason[0] = 0;							\
	if (!di)								\
		return -EINVAL;							\
	return init_fn(di);							\
}

/*
 * BUBLK_LOAD(load_fn): with BUBLK_PRELOAD, runs once after the runtime
 * copied the range bublk_init asked for into bublk_preload.
 * int load_fn(void) returns 0 or bublk_refuse(-errno, "why").
 */
#define BUBLK_LOAD(load_fn)							\
SEC("syscall")									\
int bublk_load(void *ctx)							\
{										\
	bublk_reason[0] = 0;							\
	return load_fn();							\
}

/*
 * BUBLK_RESIZE(resize_fn): "bublk resize" asks first. int resize_fn(
 * struct bublk_dev_info *want) gets a copy of the device with the proposed
 * size and the backends' current sizes; 0 accepts, bublk_refuse(-errno,
 * "why") refuses. Without it the target cannot be resized. want is the
 * program's context: read it at fixed offsets (or copy it first).
 */
#define BUBLK_RESIZE(resize_fn)							\
SEC("syscall")									\
int bublk_resize(struct bublk_dev_info *want)					\
{										\
	bublk_reason[0] = 0;							\
	return resize_fn(want);							\
}

#endif /* BUBLK_BPF_H */
