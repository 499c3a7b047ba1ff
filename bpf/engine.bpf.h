/* SPDX-License-Identifier: MIT */
/*
 * bublk's in-kernel engine: the queue loop as an io_uring_bpf_ops
 * loop_step program (Linux 7.1+). bublk.bpf.h includes this when a target
 * is compiled with -DBUBLK_ENGINE_KERNEL (the NAME.kern.o objects make
 * builds next to NAME.bpf.o): BUBLK_TARGET() then also emits
 * bublk_engine_step, which calls the same map function as bublk_dispatch.
 * The target's source does not change. docs/kernel-engine.md has the
 * design; include/bublk/engine.h the layout shared with the runtime.
 *
 * Each step: submit what user space queued, reap the CQ; a new request
 * (FETCH completion) gets its descriptor read from the daemon's mmap, its
 * arena slot filled and the target run on it. An answer the engine can
 * carry out on its own (complete now; or one stage of at most
 * BUBLK_ENGINE_SEGS READ/WRITE/FLUSH/DISCARD segments on files, zero copy,
 * no bublk_done) is checked with the rules of runtime/lib/seg.c against
 * the device as loaded (.rodata: nothing a program writes can widen
 * them), issued, and committed from here when its segments complete.
 * Anything else, including every answer the checks refuse, is parked for
 * the C runtime, which serves it (and refuses, counts and logs bad answers)
 * exactly as it would have: the loop stops, the queue thread runs, and
 * enters the loop again.
 */
#ifndef BUBLK_ENGINE_BPF_H
#define BUBLK_ENGINE_BPF_H

#include <bpf/bpf_tracing.h>
#include <bublk/engine.h>

/*
 * The loop's argument types, under names of our own so that a vmlinux.h
 * from a kernel without them (the host's) and one with them both build:
 * libbpf matches a kfunc's struct arguments by kind, and CO-RE finds
 * iou_loop_params by its name without the ___bublk flavour.
 */
struct iou_ctx___bublk {
};

struct iou_loop_params___bublk {
	__u32	cq_wait_idx;
} __attribute__((preserve_access_index));

extern int bpf_io_uring_submit_sqes(struct iou_ctx___bublk *ctx, __u32 nr) __ksym;
extern __u8 *bpf_io_uring_get_region(struct iou_ctx___bublk *ctx, __u32 region_id,
				     const __u64 rdwr_buf_size) __ksym;

#define __BUBLK_IOU_REGION_CQ	1
#define __BUBLK_IOU_REGION_SQ	2
#define __BUBLK_IOU_LOOP_CONTINUE 0
#define __BUBLK_IOU_LOOP_STOP	1

/* the few UAPI numbers the engine writes into SQEs */
#define __BUBLK_OP_FSYNC	3
#define __BUBLK_OP_READ_FIXED	4
#define __BUBLK_OP_WRITE_FIXED	5
#define __BUBLK_OP_FALLOCATE	17
#define __BUBLK_OP_URING_CMD	46
#define __BUBLK_SQE_FIXED_FILE	1
#define __BUBLK_FSYNC_DATASYNC	1
#define __BUBLK_RWF_DSYNC	2
#define __BUBLK_FALLOC_PUNCH	3	/* FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE */
#define __BUBLK_IO_F_NEED_REG_BUF (1U << 17)
#define __BUBLK_IO_RES_OK	0

const volatile struct bublk_engine_cfg bublk_engine_cfg;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BUBLK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct bublk_engine_queue);
} bublk_engine_queues SEC(".maps");

/* queue thread id -> queue: the loop runs in the thread that entered it */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BUBLK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} bublk_engine_tids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, BUBLK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct bublk_engine_park);
} bublk_engine_park SEC(".maps");

/* sized nr_queues * depth by the loader */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bublk_engine_tag);
} bublk_engine_tags SEC(".maps");

/* one step's state, shared with the per-CQE callback */
struct __bublk_engine_step {
	__u8				*rings;
	__u8				*sq;
	struct bublk_engine_queue	*q;
	struct bublk_engine_park	*park;
	struct bublk_stats		*st;
	__u32				tag_base;	/* q_id * depth */
	__u32				sq_tail;
	__u32				sq_free;
	__u32				nr_sqes;	/* written this step */
	__u32				full;		/* stopped reaping: no room for a request's SQEs */
};

struct __bublk_sqe {
	__u8	opcode;
	__u8	flags;
	__u16	ioprio;
	__s32	fd;
	__u64	off;		/* uring_cmd: cmd_op at 8 */
	__u64	addr;
	__u32	len;
	__u32	rw_flags;
	__u64	user_data;
	__u16	buf_index;
	__u16	personality;
	__u32	file_index;
	/* uring_cmd: struct ublksrv_io_cmd */
	__u16	q_id;
	__u16	tag;
	__s32	result;
	__u64	cmd_addr;
};

struct __bublk_iod {
	__u32	op_flags;
	__u32	nr_sectors;
	__u64	start_sector;
	__u64	addr;
};

static __always_inline __u32 __bublk_rd32(__u8 *base, __u32 off)
{
	return *(volatile __u32 *)(base + off);
}

/*
 * Segment index i, hidden from the optimizer and masked: clang would walk
 * a pointer through the array instead, which the verifier cannot bound.
 */
static __always_inline __u32 __bublk_si(__u32 i)
{
	asm volatile("" : "+r"(i));
	return i & (BUBLK_ENGINE_SEGS - 1);
}

static __always_inline __u64 __bublk_ud(__u32 kind, __u32 tag, __u32 seg, __u32 expect)
{
	return ((__u64)kind << 56) | ((__u64)tag << 40) | ((__u64)seg << 32) | expect;
}

/* the next free SQE, zeroed; the caller checked sq_free */
static __always_inline struct __bublk_sqe *__bublk_engine_sqe(struct __bublk_engine_step *s)
{
	struct __bublk_sqe *sqe;

	sqe = (void *)(s->sq + (s->sq_tail & bublk_engine_cfg.sq_mask) * 64);
	__builtin_memset(sqe, 0, 64);
	s->sq_tail++;
	s->nr_sqes++;
	s->sq_free--;
	return sqe;
}

/* hand a CQE to user space; the step ends with IOU_LOOP_STOP */
static __always_inline void __bublk_engine_park(struct __bublk_engine_step *s, __u64 ud, __s32 res,
						__u32 flags)
{
	__u32 n = s->park->n;

	if (n >= BUBLK_ENGINE_PARK_MAX)
		return;		/* checked before the CQE was consumed */
	s->park->cqe[n].user_data = ud;
	s->park->cqe[n].res = res;
	s->park->cqe[n].flags = flags;
	s->park->n = n + 1;
	s->st->engine_parked++;
}

/*
 * The finished request in the queue's part of the bublk_trace ring, as
 * stats.c's trace_io writes it (seq last, 0 while the record changes):
 * the two must fill the same fields alike.
 */
static __always_inline void __bublk_engine_trace(struct __bublk_engine_step *s, __u32 tag,
						 const struct bublk_engine_tag *et, __u8 action,
						 __u32 nr, __s32 res)
{
	__u64 seq = ++s->park->trace_seq;
	__u32 idx = s->q->q_id * BUBLK_TRACE_PER_QUEUE + (seq - 1) % BUBLK_TRACE_PER_QUEUE;
	struct bublk_trace_rec *r = bpf_map_lookup_elem(&bublk_trace, &idx);

	if (!r)
		return;
	*(volatile __u64 *)&r->seq = 0;
	asm volatile("" ::: "memory");
	r->offset = et->offset;
	r->len = et->len;
	r->result = res;
	r->q_id = s->q->q_id;
	r->tag = tag;
	r->op = et->op;
	r->nr_segs = nr;
	r->rounds = 0;
	r->action = action;
	for (__u32 i = 0; i < BUBLK_TRACE_SEGS; i++) {
		struct bublk_trace_seg *t = &r->segs[i];

		if (i < nr && i < BUBLK_ENGINE_SEGS) {
			const struct bublk_seg *g = &et->segs[__bublk_si(i)];

			t->op = g->op;
			t->stage = g->stage;
			t->backend = g->backend;
			t->len = g->len;
			t->backend_off = g->backend_off;
		} else {
			t->op = 0;
			t->stage = 0;
			t->backend = 0;
			t->len = 0;
			t->backend_off = 0;
		}
	}
	/* x86: stores are not reordered; the barrier keeps clang from doing it */
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&r->seq = seq;
}

/* COMMIT_AND_FETCH tag with res, its next buffer registered automatically at index tag */
static __always_inline void __bublk_engine_commit(struct __bublk_engine_step *s, __u32 tag,
						  const struct bublk_engine_tag *et, __u8 action,
						  __u32 nr, __s32 res)
{
	struct __bublk_sqe *sqe = __bublk_engine_sqe(s);
	struct bublk_op_stats *os = &s->st->op[et->op & (BUBLK_STATS_OPS - 1)];
	__u32 index = bublk_engine_cfg.buf_index_fixed ? bublk_engine_cfg.buf_index_fixed : tag;

	sqe->opcode = __BUBLK_OP_URING_CMD;
	sqe->flags = __BUBLK_SQE_FIXED_FILE;
	sqe->fd = 0;				/* registered file 0: /dev/ublkcN */
	sqe->off = bublk_engine_cfg.cmd_commit;	/* cmd_op */
	sqe->addr = index | ((__u64)bublk_engine_cfg.buf_reg << 16);
	sqe->user_data = __bublk_ud(BUBLK_ENGINE_UD_UBLK, tag, 0, 0);
	sqe->q_id = s->q->q_id;
	sqe->tag = tag;
	sqe->result = res;
	if (res < 0)
		os->errors++;
	else
		os->bytes += res;
	os->reqs++;
	s->st->engine_reqs++;
	__bublk_engine_trace(s, tag, et, action, nr, res);
}

/* a + b <= limit, without overflow (seg.c's fits) */
static __always_inline bool __bublk_fits(__u64 a, __u64 b, __u64 limit)
{
	return a <= limit && b <= limit - a;
}

/*
 * Can the engine carry out segment seg of a request (op, len) itself?
 * The checks of runtime/lib/seg.c for the segments it executes; false for
 * everything else, which then goes to user space (and is refused there if
 * it is bad).
 */
static __always_inline bool __bublk_engine_seg_ok(const struct bublk_seg *seg, __u8 op, __u32 len,
						  __u8 stage)
{
	__u32 b = seg->backend;
	__u32 bf;

	if (seg->flags || seg->stage != stage || b >= bublk_engine_cfg.nr_backends ||
	    b >= BUBLK_MAX_BACKENDS)
		return false;
	bf = bublk_engine_cfg.be_flags[b & (BUBLK_MAX_BACKENDS - 1)];
	if (!(bf & BUBLK_ENGINE_B_FILE))
		return false;
	if (seg->op == BUBLK_SEG_FLUSH)
		return true;
	if (!seg->len ||
	    !__bublk_fits(seg->backend_off, seg->len,
			  bublk_engine_cfg.be_size[b & (BUBLK_MAX_BACKENDS - 1)]))
		return false;
	switch (seg->op) {
	case BUBLK_SEG_READ:
		return op == BUBLK_OP_READ && __bublk_fits(seg->data_off, seg->len, len);
	case BUBLK_SEG_WRITE:
		return op == BUBLK_OP_WRITE && !(bf & BUBLK_ENGINE_B_READONLY) &&
		       __bublk_fits(seg->data_off, seg->len, len);
	case BUBLK_SEG_DISCARD:
		return !(bf & BUBLK_ENGINE_B_READONLY);
	}
	return false;	/* WRITE_ZEROES, ZERO_FILL, DELAY: the C runtime's */
}

/* one validated segment as an SQE */
static __always_inline void __bublk_engine_issue(struct __bublk_engine_step *s, __u32 tag, __u32 i,
						 const struct bublk_seg *seg, __u32 req_flags)
{
	struct __bublk_sqe *sqe = __bublk_engine_sqe(s);
	__u32 expect = 0;

	sqe->flags = __BUBLK_SQE_FIXED_FILE;
	sqe->fd = 1 + seg->backend;	/* registered files: backends after the char device */
	switch (seg->op) {
	case BUBLK_SEG_READ:
	case BUBLK_SEG_WRITE:
		sqe->opcode = seg->op == BUBLK_SEG_READ ? __BUBLK_OP_READ_FIXED : __BUBLK_OP_WRITE_FIXED;
		sqe->off = seg->backend_off;
		sqe->addr = seg->data_off;	/* an offset in the request's registered buffer */
		sqe->len = seg->len;
		sqe->buf_index = tag;
		if (seg->op == BUBLK_SEG_WRITE && (req_flags & BUBLK_REQ_F_FUA))
			sqe->rw_flags = __BUBLK_RWF_DSYNC;
		expect = seg->len;
		break;
	case BUBLK_SEG_FLUSH:
		sqe->opcode = __BUBLK_OP_FSYNC;
		sqe->rw_flags = __BUBLK_FSYNC_DATASYNC;
		break;
	default:	/* DISCARD */
		sqe->opcode = __BUBLK_OP_FALLOCATE;
		sqe->off = seg->backend_off;
		sqe->addr = seg->len;
		sqe->len = __BUBLK_FALLOC_PUNCH;
		break;
	}
	sqe->user_data = __bublk_ud(BUBLK_ENGINE_UD_SEG, tag, i, expect);
}

/*
 * Take the target's answer for tag (in the arena) into et and check it:
 * true when the engine executes it, false to park it.
 */
static __always_inline bool __bublk_engine_take(struct __bublk_engine_step *s, struct bublk_engine_tag *et,
						__u32 tag, __u32 nr)
{
	volatile struct bublk_seg __arena *as;
	__u8 stage = 0;

	if (!nr || nr > BUBLK_ENGINE_SEGS || nr > bublk_engine_cfg.max_segs || bublk_engine_cfg.has_done)
		return false;
	as = (volatile struct bublk_seg __arena *)(s->q->segs +
		(__u64)tag * bublk_engine_cfg.max_segs * sizeof(struct bublk_seg));
	for (__u32 i = 0; i < BUBLK_ENGINE_SEGS; i++) {
		__u32 k = __bublk_si(i);
		struct bublk_seg *seg = &et->segs[k];

		if (i >= nr)
			break;
		/* each field read once, into our copy: only that is checked and used */
		seg->op = as[k].op;
		seg->stage = as[k].stage;
		seg->backend = as[k].backend;
		seg->len = as[k].len;
		seg->backend_off = as[k].backend_off;
		seg->data_off = as[k].data_off;
		seg->flags = as[k].flags;
		seg->result = 0;
		if (!i)
			stage = seg->stage;
		if (!__bublk_engine_seg_ok(seg, et->op, et->len, stage))
			return false;
	}
	/* two READs into the same request bytes race (seg.c: BUBLK_REJ_OVERLAP) */
	for (__u32 i = 0; i < BUBLK_ENGINE_SEGS; i++) {
		if (i >= nr)
			break;
		for (__u32 j = i + 1; j < BUBLK_ENGINE_SEGS; j++) {
			if (j >= nr)
				break;
			const struct bublk_seg *a = &et->segs[__bublk_si(i)];
			const struct bublk_seg *b = &et->segs[__bublk_si(j)];

			if (a->op == BUBLK_SEG_READ && b->op == BUBLK_SEG_READ &&
			    a->data_off < b->data_off + b->len && b->data_off < a->data_off + a->len)
				return false;
		}
	}
	return true;
}

/* BUBLK_ACT_COMPLETE's result as the client gets it (exec.c's complete_result) */
static __always_inline __s32 __bublk_engine_result(__s32 result, __u8 op, __u32 len)
{
	if (result < 0)
		return result >= -4095 ? result : -EIO;
	return op == BUBLK_OP_READ || op == BUBLK_OP_WRITE ? len : 0;
}

/*
 * A new request for tag: describe it to the target in its arena slot (as
 * dispatch.c's bublk_req_from_io does), run map_fn, act on the answer.
 * false: park the FETCH completion itself (user space does all of it).
 */
#define __BUBLK_ENGINE_FETCH(map_fn, s, __t, ud, cqe_flags)			\
({										\
	struct bublk_engine_tag *__et;						\
	volatile struct bublk_req __arena *__ar;				\
	struct __bublk_iod __iod;						\
	struct bublk_emit __e;							\
	struct bublk_req __rq;							\
	__u32 __key = (s)->tag_base + (__t);					\
	bool __ok = false;							\
	int __act;								\
										\
	__et = bpf_map_lookup_elem(&bublk_engine_tags, &__key);			\
	if (__et && !bpf_copy_from_user(&__iod, sizeof(__iod),			\
			(void *)((s)->q->iods + (__t) * (s)->q->iod_stride)) &&	\
	    !(__iod.op_flags & __BUBLK_IO_F_NEED_REG_BUF)) {			\
		__rq.tag = (__t);						\
		__rq.q_id = (s)->q->q_id;					\
		__rq.op = __iod.op_flags & 0xff;				\
		__rq.buf_kind = __rq.op == BUBLK_OP_READ || __rq.op == BUBLK_OP_WRITE ? \
				BUBLK_BUF_ZERO_COPY : BUBLK_BUF_NONE;		\
		__rq.round = 0;							\
		__rq.flags = __iod.op_flags & ~0xffU;				\
		__rq.len = __iod.nr_sectors << 9;				\
		__rq.offset = __iod.start_sector << 9;				\
		__rq.result = 0;						\
		__rq.nr_segs = 0;						\
		__rq.action = 0;						\
		__rq.notify = 0;						\
		__ar = (volatile struct bublk_req __arena *)((s)->q->reqs +	\
			(__t) * sizeof(struct bublk_req));			\
		__ar->tag = __rq.tag;						\
		__ar->q_id = __rq.q_id;						\
		__ar->op = __rq.op;						\
		__ar->buf_kind = __rq.buf_kind;					\
		__ar->round = 0;						\
		__ar->flags = __rq.flags;					\
		__ar->len = __rq.len;						\
		__ar->offset = __rq.offset;					\
		__ar->result = 0;						\
		__ar->nr_segs = 0;						\
		__e.segs = (s)->q->segs + (__u64)(__t) * bublk_engine_cfg.max_segs * \
			   sizeof(struct bublk_seg);				\
		__e.scratch = (s)->q->scratch + (__u64)(__t) * BUBLK_SCRATCH_SIZE; \
		__e.scratch_size = BUBLK_SCRATCH_SIZE;				\
		__e.max = bublk_engine_cfg.max_segs;				\
		__e.n = 0;							\
		__e.result = 0;							\
		__e.nr_prev = 0;						\
		__e.notify = 0;							\
		__act = map_fn(&__rq, &__e);					\
		/* the answer, where the C runtime reads it if we park it */	\
		__ar->action = __act;						\
		__ar->nr_segs = __e.n;						\
		__ar->result = __e.result;					\
		__ar->notify = __e.notify;					\
		__et->op = __rq.op;						\
		__et->len = __rq.len;						\
		__et->flags = __rq.flags;					\
		__et->offset = __rq.offset;					\
		__ok = true;							\
		if (__act == BUBLK_ACT_COMPLETE) {				\
			__bublk_engine_commit((s), (__t), __et, BUBLK_ACT_COMPLETE, 0, \
				__bublk_engine_result(__e.result, __rq.op, __rq.len)); \
		} else if (__act == BUBLK_ACT_EXEC && !__e.notify &&		\
			   __bublk_engine_take((s), __et, (__t), __e.n)) {	\
			__u32 __n = __e.n;					\
										\
			__et->nr_segs = __n;					\
			__et->pending = __n;					\
			__et->err = 0;						\
			for (__u32 __i = 0; __i < BUBLK_ENGINE_SEGS; __i++) {	\
				if (__i >= __n)					\
					break;					\
				__bublk_engine_issue((s), (__t), __i, &__et->segs[__bublk_si(__i)], \
						     __et->flags);		\
			}							\
			(s)->st->op[__rq.op & (BUBLK_STATS_OPS - 1)].segs += __n; \
		} else {							\
			__bublk_engine_park((s), __bublk_ud(BUBLK_ENGINE_UD_ANSWERED, \
					    (__t), 0, 0), 0, 0);		\
		}								\
	}									\
	__ok;									\
})

/* a segment the engine issued has completed */
static __always_inline void __bublk_engine_seg_done(struct __bublk_engine_step *s, __u32 tag, __u64 ud,
						    __s32 res, __u32 cqe_flags)
{
	struct bublk_engine_tag *et;
	__u32 key = s->tag_base + tag;
	__u32 expect = (__u32)ud;
	__s32 err;

	et = bpf_map_lookup_elem(&bublk_engine_tags, &key);
	if (!et || !et->pending) {
		/* not ours to finish: let the C runtime log it */
		s->st->engine_errors++;
		return;
	}
	err = res >= 0 ? ((__u32)res == expect ? 0 : -EIO) : res;
	if (err && !et->err)
		et->err = err;
	if (--et->pending)
		return;
	__bublk_engine_commit(s, tag, et, BUBLK_ACT_EXEC, et->nr_segs,
			      et->err ? et->err : __bublk_engine_result(0, et->op, et->len));
}

/* one CQE; 1 ends the step's reaping (CQ empty, SQ or park full) */
#define __BUBLK_ENGINE_CQE(map_fn, s)						\
({										\
	struct io_uring_cqe___bublk {						\
		__u64	user_data;						\
		__s32	res;							\
		__u32	flags;							\
	} *__cqe;								\
	__u32 __head = __bublk_rd32((s)->rings, bublk_engine_cfg.cq_head);	\
	__u64 __ud;								\
	__s32 __res;								\
	__u32 __fl, __kind, __tag;						\
	long __ret = 0;								\
										\
	if (__head == __bublk_rd32((s)->rings, bublk_engine_cfg.cq_tail)) {	\
		__ret = 1;							\
	} else if ((s)->sq_free < BUBLK_ENGINE_SEGS + 1 ||			\
		   (s)->park->n >= BUBLK_ENGINE_PARK_MAX) {			\
		(s)->full = 1;							\
		__ret = 1;							\
	} else {								\
		__cqe = (void *)((s)->rings + bublk_engine_cfg.cqes +		\
				 (__head & bublk_engine_cfg.cq_mask) * 16);	\
		__ud = __cqe->user_data;					\
		__res = __cqe->res;						\
		__fl = __cqe->flags;						\
		/* consumed: the kernel may reuse the slot once head moves */	\
		*(volatile __u32 *)((s)->rings + bublk_engine_cfg.cq_head) = __head + 1; \
		__kind = __ud >> 56;						\
		__tag = (__ud >> 40) & 0xffff;					\
		if (__tag >= bublk_engine_cfg.depth)				\
			__bublk_engine_park((s), __ud, __res, __fl);		\
		else if (__kind == BUBLK_ENGINE_UD_SEG)				\
			__bublk_engine_seg_done((s), __tag, __ud, __res, __fl);	\
		else if (__kind != BUBLK_ENGINE_UD_UBLK || __res != __BUBLK_IO_RES_OK || \
			 !__BUBLK_ENGINE_FETCH(map_fn, (s), __tag, __ud, __fl))	\
			__bublk_engine_park((s), __ud, __res, __fl);		\
	}									\
	__ret;									\
})

/*
 * BUBLK_ENGINE(map_fn): the loop_step program. Loaded only where the
 * kernel has io_uring_bpf_ops (runtime/lib/engine.c decides); attached to
 * each queue's ring with a struct_ops link.
 */
#define BUBLK_ENGINE(map_fn)							\
static long __bublk_engine_cqe(__u64 i, void *data)				\
{										\
	struct __bublk_engine_step *s = data;					\
										\
	return __BUBLK_ENGINE_CQE(map_fn, s);					\
}										\
										\
SEC("bublk_engine")								\
int BPF_PROG(bublk_engine_step, struct iou_ctx___bublk *ictx,			\
	     struct iou_loop_params___bublk *lp)				\
{										\
	struct __bublk_engine_step s = {};					\
	__u32 tid = (__u32)bpf_get_current_pid_tgid();				\
	__u32 *qid, q_id, user, n;						\
										\
	bublk_use_arena();							\
	qid = bpf_map_lookup_elem(&bublk_engine_tids, &tid);			\
	if (!qid)								\
		return -1;	/* not a queue thread of ours: -EINVAL */	\
	q_id = *qid & (BUBLK_MAX_QUEUES - 1);					\
	s.q = bpf_map_lookup_elem(&bublk_engine_queues, &q_id);			\
	s.park = bpf_map_lookup_elem(&bublk_engine_park, &q_id);		\
	s.st = bpf_map_lookup_elem(&bublk_stats, &q_id);			\
	s.rings = bpf_io_uring_get_region(ictx, __BUBLK_IOU_REGION_CQ,		\
					  bublk_engine_cfg.rings_bytes);	\
	s.sq = bpf_io_uring_get_region(ictx, __BUBLK_IOU_REGION_SQ,		\
				       bublk_engine_cfg.sq_bytes);		\
	if (!s.q || !s.park || !s.st || !s.rings || !s.sq)			\
		return -1;							\
	s.tag_base = q_id * bublk_engine_cfg.depth;				\
	s.sq_tail = __bublk_rd32(s.rings, bublk_engine_cfg.sq_tail);		\
	/* SQEs user space queued before it entered: submitted with ours */	\
	user = s.sq_tail - __bublk_rd32(s.rings, bublk_engine_cfg.sq_head);	\
	s.sq_free = user < bublk_engine_cfg.sq_entries ?			\
		    bublk_engine_cfg.sq_entries - user : 0;			\
	bpf_loop(bublk_engine_cfg.cq_entries, __bublk_engine_cqe, &s, 0);	\
	n = user + s.nr_sqes;							\
	if (n) {								\
		*(volatile __u32 *)(s.rings + bublk_engine_cfg.sq_tail) = s.sq_tail; \
		if (bpf_io_uring_submit_sqes(ictx, n) < 0)			\
			s.st->engine_errors++;					\
	}									\
	if (s.park->n) {							\
		s.st->engine_stops++;						\
		return __BUBLK_IOU_LOOP_STOP;					\
	}									\
	/* sleep until one more CQE; at once when the SQ filled up */		\
	lp->cq_wait_idx = __bublk_rd32(s.rings, bublk_engine_cfg.cq_head) + !s.full; \
	return __BUBLK_IOU_LOOP_CONTINUE;					\
}

#endif /* BUBLK_ENGINE_BPF_H */
