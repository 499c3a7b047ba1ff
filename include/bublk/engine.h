/* SPDX-License-Identifier: MIT */
/*
 * The in-kernel engine (docs/kernel-engine.md): what bublk's loop_step
 * program (bpf/engine.bpf.h, built into NAME.kern.o next to each target's
 * NAME.bpf.o) and the runtime (runtime/lib/engine.c) share. Not part of
 * the target ABI: targets never read or write any of it.
 *
 * Linux 7.1+ runs an io_uring_bpf_ops.loop_step program inside
 * io_uring_enter(2) for as long as it says CONTINUE. bublk's reaps the
 * queue's CQEs there, runs the target's map function on each new request
 * and, when the answer is one it can carry out itself (complete now, or
 * up to BUBLK_ENGINE_SEGS zero-copy segments of one stage), writes the
 * backend SQEs and the COMMIT_AND_FETCH. Everything else is "parked": the
 * CQE (or the answered request) is copied for the C runtime, the loop
 * stops, the queue thread serves it exactly as the user-space engine
 * would, and enters the loop again.
 */
#ifndef BUBLK_ENGINE_H
#define BUBLK_ENGINE_H

#ifndef __bpf__
#include <linux/types.h>
#endif
#include <bublk/abi.h>

/* segments of one request the engine executes itself; more are parked */
#define BUBLK_ENGINE_SEGS	8
/* CQEs one loop stop can hand to user space */
#define BUBLK_ENGINE_PARK_MAX	256

/* user_data kinds (bits 56-63) the engine knows, as runtime/lib/queue.h numbers them */
#define BUBLK_ENGINE_UD_UBLK	 1	/* FETCH / COMMIT_AND_FETCH */
#define BUBLK_ENGINE_UD_SEG	11	/* a segment the engine issued (tag, segment, expected result) */
#define BUBLK_ENGINE_UD_ANSWERED 12	/* parked: tag's target answer is in the arena, act on it */

/* bublk_engine_cfg.be_flags[i] */
#define BUBLK_ENGINE_B_FILE	(1U << 0)	/* a registered file (not an NBD export) */
#define BUBLK_ENGINE_B_READONLY	(1U << 1)

/*
 * The device, as the engine sees it: .rodata of the kern object, written
 * before load and frozen, so every field is a constant to the verifier
 * (region sizes must be) and no BPF program can change it. Ring offsets
 * and masks come from a ring made with the queues' parameters.
 */
struct bublk_engine_cfg {
	__u32	rings_bytes;	/* IOU_REGION_CQ bytes the engine maps: header and CQEs */
	__u32	sq_bytes;	/* IOU_REGION_SQ: the SQE array */
	__u32	sq_head, sq_tail, sq_mask, sq_entries;	/* io_uring_params.sq_off */
	__u32	cq_head, cq_tail, cq_mask, cq_entries, cqes;	/* .cq_off */
	__u32	depth;
	__u32	max_segs;	/* the device's limit for a target's answer */
	__u32	nr_backends;
	__u32	cmd_commit;	/* UBLK_U_IO_COMMIT_AND_FETCH_REQ */
	__u32	buf_reg;	/* low 32 bits of struct ublk_auto_buf_reg but the index */
	__u32	buf_index_fixed; /* 0xffff: the zero-copy fallback test hook; else 0 (index = tag) */
	__u32	has_done;	/* the target has bublk_done: its EXEC answers go to user space */
	__u32	be_flags[BUBLK_MAX_BACKENDS];	/* BUBLK_ENGINE_B_* */
	__u64	be_size[BUBLK_MAX_BACKENDS];	/* at load; a larger range is left to user space */
};

/* one queue, written by its thread before it enters the loop (bublk_engine_queues) */
struct bublk_engine_queue {
	__u64	iods;		/* user address of the queue's descriptor mmap */
	__u64	iod_stride;
	__u64	reqs;		/* arena: struct bublk_req[depth] */
	__u64	segs;		/* arena: struct bublk_seg[depth][max_segs] */
	__u64	scratch;	/* arena: [depth][BUBLK_SCRATCH_SIZE] */
	__u32	q_id;
	__u32	reserved;
};

/* what the engine hands to user space when it stops (bublk_engine_park, mmapped) */
struct bublk_engine_cqe {
	__u64	user_data;
	__s32	res;
	__u32	flags;
};

struct bublk_engine_park {
	__u32	n;		/* records in cqe[]; user space sets it back to 0 */
	__u32	reserved;
	/* the queue's bublk_trace sequence, shared by both engines' records */
	__u64	trace_seq;
	struct bublk_engine_cqe cqe[BUBLK_ENGINE_PARK_MAX];
};

/* a request the engine is executing (bublk_engine_tags, queue q's at q * depth) */
struct bublk_engine_tag {
	__u32	len;
	__s32	err;		/* first failed segment's -errno */
	__u16	pending;	/* segments in flight */
	__u8	op;
	__u8	nr_segs;
	__u32	flags;		/* BUBLK_REQ_F_* */
	__u64	offset;		/* device byte offset, for the trace */
	struct bublk_seg segs[BUBLK_ENGINE_SEGS];	/* validated copies of the answer */
};

#endif /* BUBLK_ENGINE_H */
