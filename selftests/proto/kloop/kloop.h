/* SPDX-License-Identifier: GPL-2.0 */
/* kloop: shared between the loop_step program and its user-space driver. */
#ifndef KLOOP_H
#define KLOOP_H

#define KLOOP_QD		16	/* tags of the one queue */
#define KLOOP_SQ_ENTRIES	32	/* power of two, >= QD + 1 */
#define KLOOP_CQ_ENTRIES	64
#define KLOOP_MAX_IO		(64 * 1024)
#define KLOOP_STOP_UD		0xffffffffull	/* user_data of the stop eventfd poll */
#define KLOOP_SQE_BYTES		64
#define KLOOP_IOD_BYTES		24	/* struct ublksrv_io_desc */

/* read-only configuration (.rodata, frozen: verifier-known constants) */
struct kloop_cfg {
	unsigned long long	iod_va;		/* user VA of the descriptor mmap */
	unsigned long long	buf_va;		/* per-tag copy buffers, KLOOP_MAX_IO each */
	unsigned int		ublkc_fd;	/* /dev/ublkcN in the daemon */
	unsigned int		rings_bytes;	/* size asked for IOU_REGION_CQ */
	unsigned int		sq_head, sq_tail, sq_mask;	/* io_uring_params.sq_off */
	unsigned int		cq_head, cq_tail, cq_mask, cqes;	/* .cq_off */
};

/* counters (.bss), written only by the BPF program */
struct kloop_stats {
	unsigned long long	steps;		/* loop_step calls */
	unsigned long long	cqes;		/* CQEs reaped */
	unsigned long long	committed;	/* COMMIT_AND_FETCH written by BPF */
	unsigned long long	reads, writes, others;
	unsigned long long	bytes;
	unsigned long long	aborted;	/* FETCH completed with UBLK_IO_RES_ABORT */
	unsigned long long	errors;		/* anything else unexpected */
	unsigned long long	submitted;	/* sum of bpf_io_uring_submit_sqes() >= 0 */
	long long		submit_err;	/* last negative return */
	unsigned long long	stops;		/* IOU_LOOP_STOP returns */
};

#endif
