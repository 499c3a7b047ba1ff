/* SPDX-License-Identifier: MIT */
/*
 * bublk target ABI: the contract between a target's BPF program and the
 * runtime. Shared verbatim by BPF (clang -target bpf) and C.
 *
 * Per batch of requests the runtime fills one struct bublk_req per request
 * in the device's BPF arena, then runs the object's "bublk_dispatch"
 * program once (BPF_PROG_RUN) with a struct bublk_batch as context. The
 * target answers each request in place (action, result, nr_segs) and
 * writes up to max_segs struct bublk_seg descriptors for it. The runtime
 * validates every descriptor before it touches any memory or file.
 *
 * A target may also define a "bublk_done" program: the runtime runs it (in
 * batches, same context) for requests that asked for it (notify) or had a
 * segment fail. It sees every segment's result and either finishes the
 * request or emits follow-up segments (another round).
 *
 * Everything here is fixed-size and naturally aligned; any layout change
 * bumps BUBLK_ABI_VERSION and the loader refuses objects built for another.
 *
 * v2: segment stages, arena-sourced segments, ZERO_FILL, segment results,
 *     the bublk_done completion program, per-tag scratch, device attrs.
 */
#ifndef BUBLK_ABI_H
#define BUBLK_ABI_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#define BUBLK_ABI_VERSION	2

/* user (and BPF) address of the arena: same number on both sides */
#define BUBLK_ARENA_ADDR	(1ULL << 44)
#define BUBLK_PAGE_SIZE		4096

#define BUBLK_MAX_BACKENDS	16
#define BUBLK_MAX_SEGS		32	/* descriptors per request */
#define BUBLK_REASON_LEN	128	/* bublk_refuse()'s text, with its NUL */
#define BUBLK_MAX_BATCH		1024	/* requests per dispatch call */
#define BUBLK_SCRATCH_SIZE	4096	/* arena bytes per tag the target may use */
#define BUBLK_MAX_ROUNDS	8	/* bublk_done follow-up rounds per request */
#define BUBLK_MAX_DELAY_US	10000000 /* longest BUBLK_SEG_DELAY: 10 s */

/* struct bublk_req.op: the block operation (same numbers as ublk's) */
enum bublk_op {
	BUBLK_OP_READ = 0,
	BUBLK_OP_WRITE = 1,
	BUBLK_OP_FLUSH = 2,
	BUBLK_OP_DISCARD = 3,
	BUBLK_OP_WRITE_ZEROES = 5,
};

/* struct bublk_req.flags (same bits as ublk's UBLK_IO_F_*) */
#define BUBLK_REQ_F_FUA		(1U << 13)	/* write through to stable media */
#define BUBLK_REQ_F_NOUNMAP	(1U << 15)	/* WRITE_ZEROES must not deallocate */

/* struct bublk_req.action: what the target decided */
enum bublk_action {
	BUBLK_ACT_NONE = 0,	/* target did not answer: the request fails */
	BUBLK_ACT_EXEC,		/* execute nr_segs segments, then complete */
	BUBLK_ACT_COMPLETE,	/* complete now: result 0 = success, <0 = -errno */
	BUBLK_ACT_FALLBACK,	/* let the runtime's C path map it (identity on backend 0) */
};

/* struct bublk_req.buf_kind: where the request's data lives */
enum bublk_buf_kind {
	BUBLK_BUF_NONE = 0,	/* no data (FLUSH, DISCARD, ...) */
	BUBLK_BUF_COPY,		/* per-tag server buffer (copy mode) */
	BUBLK_BUF_USER_COPY,	/* moved with pread/pwrite on /dev/ublkcN */
	BUBLK_BUF_SHMEM,	/* a client's shared memory (UBLK_F_SHMEM_ZC): no copy */
	BUBLK_BUF_ZERO_COPY,	/* the kernel's own pages, registered in the queue's ring
				 * (UBLK_F_AUTO_BUF_REG): never in the server's memory */
};

/* one request, as the target sees it (input) and answers it (output) */
struct bublk_req {
	/* input, filled by the runtime */
	__u16	tag;
	__u16	q_id;
	__u8	op;		/* enum bublk_op */
	__u8	buf_kind;	/* enum bublk_buf_kind */
	__u16	round;		/* 0 at dispatch; bublk_done round number after */
	__u32	flags;		/* BUBLK_REQ_F_* */
	__u32	len;		/* bytes of data (or of the range for DISCARD etc.) */
	__u64	offset;		/* device byte offset (start_sector << 9) */
	/* output, written by the target */
	__s32	result;		/* out: BUBLK_ACT_COMPLETE: 0 or -errno;
				 * in (bublk_done): first failed segment's -errno, or 0 */
	__u16	nr_segs;	/* BUBLK_ACT_EXEC: descriptors written */
	__u8	action;		/* enum bublk_action */
	__u8	notify;		/* 1: run bublk_done when the segments finish */
};

/* struct bublk_seg.op */
enum bublk_seg_op {
	BUBLK_SEG_READ = 1,	/* backend -> request data */
	BUBLK_SEG_WRITE,	/* request data -> backend */
	BUBLK_SEG_FLUSH,	/* make the backend's written data durable */
	BUBLK_SEG_DISCARD,	/* deallocate a backend range (punch a hole) */
	BUBLK_SEG_WRITE_ZEROES,	/* zero a backend range */
	BUBLK_SEG_ZERO_FILL,	/* zero data_off..+len of a READ's data; no backend I/O */
	BUBLK_SEG_DELAY,	/* wait len microseconds (fault injection); one per request */
	BUBLK_SEG_OP_MAX,
};

/*
 * The segment op that does a whole request of block op `op` on a backend
 * (the identity mapping loop, fault and the C paths use); 0 for none.
 */
static inline __u8 bublk_seg_op_for(__u8 op)
{
	switch (op) {
	case BUBLK_OP_READ:		return BUBLK_SEG_READ;
	case BUBLK_OP_WRITE:		return BUBLK_SEG_WRITE;
	case BUBLK_OP_FLUSH:		return BUBLK_SEG_FLUSH;
	case BUBLK_OP_DISCARD:		return BUBLK_SEG_DISCARD;
	case BUBLK_OP_WRITE_ZEROES:	return BUBLK_SEG_WRITE_ZEROES;
	}
	return 0;
}

/* struct bublk_seg.flags */
#define BUBLK_SEG_F_ARENA	(1U << 0)	/* data_off is into the tag's arena scratch,
						 * not the request's data (metadata) */

/* struct bublk_seg.result when a segment never ran (an earlier stage failed) */
#define BUBLK_SEG_NOT_RUN	(-125)		/* -ECANCELED */

/*
 * One iov-like descriptor: "do op on backend at backend_off, len bytes,
 * with the request's data (or the tag's scratch) at data_off".
 *
 * Stages: a request's segments are listed in non-decreasing stage order;
 * every segment of stage k is issued together, and stage k+1 starts only
 * when all of stage k succeeded (write data, then the metadata naming it).
 */
struct bublk_seg {
	__u8	op;		/* enum bublk_seg_op */
	__u8	stage;
	__u16	backend;	/* index into the device's backend table */
	__u32	len;
	__u64	backend_off;
	__u64	data_off;	/* offset into the request's data or scratch */
	__u32	flags;		/* BUBLK_SEG_F_* */
	__s32	result;		/* written by the runtime before bublk_done:
				 * 0, -errno, or BUBLK_SEG_NOT_RUN; 0 from targets */
};

/*
 * Context of one bublk_dispatch run (ctx_in of BPF_PROG_RUN). Slots are
 * per tag, so a request's slot stays put while it is in flight: the batch
 * names which tags are new.
 */
struct bublk_batch {
	__u64	reqs;		/* arena address of struct bublk_req[depth] */
	__u64	segs;		/* arena address of struct bublk_seg[depth][max_segs] */
	__u64	tags;		/* arena address of __u16[nr]: the tags to map */
	__u64	scratch;	/* arena address of u8[depth][scratch_size] */
	__u32	nr;
	__u32	max_segs;
	__u16	q_id;
	__u16	depth;
	__u32	answered;	/* out: requests the dispatcher answered */
	__u32	scratch_size;
	__u32	reserved;
};

/*
 * Device description every target can read ("bublk_dev" map, key 0).
 * bublk_init may change size (0: the target chooses it), block_size
 * (512 or 4096), attrs, lower max_io_bytes, and ask for a preload; the
 * runtime reads them back before it creates the device. An optional
 * resize hook (BUBLK_RESIZE in bublk.bpf.h) gets a copy with the proposed
 * size and the backends' current sizes on "bublk resize": 0 accepts, a
 * negative errno refuses (docs/writing-targets.md).
 */
struct bublk_dev_info {
	__u64	size;			/* device bytes */
	__u32	dev_id;
	__u32	nr_queues;
	__u32	depth;
	__u32	block_size;		/* logical block size */
	__u32	nr_backends;
	__u32	max_io_bytes;		/* largest request the device takes */
	__u32	attrs;			/* BUBLK_DEV_* (bublk_init may set them) */
	__u32	scratch_size;		/* arena scratch bytes per tag */
	/*
	 * bublk_init may ask for on-disk state: the runtime copies
	 * preload_pages pages of backend preload_backend, from byte
	 * preload_off, into the target's "bublk_preload" map (page i = key i)
	 * and then runs the target's "bublk_load" program once.
	 */
	__u64	preload_off;
	__u32	preload_backend;
	__u32	preload_pages;
	__u64	backend_size[BUBLK_MAX_BACKENDS];
};

/* one value of a target's bublk_preload map */
struct bublk_page {
	__u8	data[BUBLK_PAGE_SIZE];
};

/* struct bublk_dev_info.attrs: what the device tells the block layer */
#define BUBLK_DEV_ROTATIONAL	(1U << 0)	/* seeks are expensive */
#define BUBLK_DEV_NO_DISCARD	(1U << 1)	/* the target cannot discard */
#define BUBLK_DEV_NO_WRITE_ZEROES (1U << 2)	/* ... nor write zeroes */
#define BUBLK_DEV_READONLY	(1U << 3)	/* writes are refused */

/*
 * What every device counts, per queue: the "bublk_stats" map (one entry
 * per queue, written only by that queue's thread; bpftool reads it).
 */
#define BUBLK_MAX_QUEUES	32
#define BUBLK_STATS_OPS		8	/* indexed by enum bublk_op */
#define BUBLK_STATS_REJECTS	16	/* indexed by refusal reason (docs/inspecting.md) */
#define BUBLK_STATS_BATCH_HIST	8	/* batches of 1, 2-3, 4-7, ..., 128 and more */

struct bublk_op_stats {
	__u64	reqs;		/* requests completed */
	__u64	bytes;		/* data bytes of the successful ones */
	__u64	errors;		/* completed with an error */
	__u64	segs;		/* segments executed for them */
};

struct bublk_stats {
	struct bublk_op_stats op[BUBLK_STATS_OPS];
	__u64	fallbacks;	/* requests mapped by the runtime's C path */
	__u64	batches;	/* bublk_dispatch runs */
	__u64	batch_reqs;	/* requests in them (batch_reqs / batches = mean size) */
	__u64	batch_hist[BUBLK_STATS_BATCH_HIST];
	__u64	done_batches;	/* bublk_done runs */
	__u64	bpf_errors;	/* BPF_PROG_RUN failures (their requests fail with EIO) */
	__u64	rejects[BUBLK_STATS_REJECTS];	/* target answers refused, by reason */
	__u64	reloads;	/* targets swapped in by "bublk reload" */
	/* UBLK_F_SHMEM_ZC devices: data requests served from shared memory or copied */
	__u64	zc_reqs;
	__u64	zc_bytes;
	__u64	copy_reqs;	/* a READ/WRITE that did not match a registered buffer (served in the device's data mode, zero copy too) */
	__u64	copy_bytes;
	__u64	zc_bad;		/* flagged with an index/range we do not know: failed */
	__u64	zc_sg_reqs;	/* of zc_reqs: scattered over buffers (UBLK_IO_F_SHMEM_SG) */
	/* zero copy: requests whose buffer the daemon registered itself (manual, or the driver fell back) */
	__u64	reg_buf_reqs;
	/* NBD backends, by backend index: this queue's own connection to it */
	__u64	nbd_up[BUBLK_MAX_BACKENDS];	/* 1 while connected (summed: queues connected) */
	__u64	nbd_lost[BUBLK_MAX_BACKENDS];	/* connections lost */
	__u64	nbd_reconnects[BUBLK_MAX_BACKENDS];	/* connections regained */
	/* the in-kernel engine (bublk add --engine kernel, docs/kernel-engine.md) */
	__u64	engine_reqs;	/* requests served inside io_uring_enter, never seen by user space */
	__u64	engine_parked;	/* CQEs and answers it handed to the C runtime */
	__u64	engine_stops;	/* times its loop stopped to do that */
	__u64	engine_errors;	/* its own failures (a descriptor it could not read, a failed submit) */
};

/*
 * A ring of recent requests and what the target decided: the "bublk_trace"
 * map holds BUBLK_TRACE_PER_QUEUE records per queue (queue q's are entries
 * q * BUBLK_TRACE_PER_QUEUE ...). A record is written when its request
 * completes; seq (per queue, from 1) is written last, 0 while it changes;
 * record s of queue q is entry q * BUBLK_TRACE_PER_QUEUE + (s - 1) % BUBLK_TRACE_PER_QUEUE.
 */
#define BUBLK_TRACE_PER_QUEUE	64
#define BUBLK_TRACE_SEGS	4	/* segments kept per record */

struct bublk_trace_seg {
	__u8	op;		/* enum bublk_seg_op */
	__u8	stage;
	__u16	backend;
	__u32	len;
	__u64	backend_off;
};

struct bublk_trace_rec {
	__u64	seq;
	__u64	offset;		/* device byte offset */
	__u32	len;
	__s32	result;		/* what the client got: bytes or -errno */
	__u16	q_id;
	__u16	tag;
	__u8	op;		/* enum bublk_op */
	__u8	nr_segs;	/* segments of the last round (first BUBLK_TRACE_SEGS below) */
	__u8	rounds;		/* bublk_done rounds */
	__u8	action;		/* enum bublk_action at dispatch */
	__u32	reserved;
	struct bublk_trace_seg segs[BUBLK_TRACE_SEGS];
};

#endif /* BUBLK_ABI_H */
