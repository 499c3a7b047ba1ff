// SPDX-License-Identifier: GPL-2.0
/*
 * kloop: a ublk null queue served entirely by io_uring's BPF loop
 * (io_uring_bpf_ops.loop_step, Linux 7.1+).  Feasibility prototype, see
 * docs/kernel-engine.md.
 *
 * Each step: reap every CQE from the CQ region; a FETCH/COMMIT completion
 * with UBLK_IO_RES_OK is a new request for tag user_data: read its
 * descriptor from the daemon's mmap of /dev/ublkcN, answer it with null
 * semantics (result = bytes) by writing a COMMIT_AND_FETCH SQE into the SQ
 * region; submit them all; then sleep until one more CQE (cq_wait_idx).
 * The stop eventfd's poll completion ends the loop (IOU_LOOP_STOP).
 */
#include "vmlinux-7.3.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kloop.h"

char LICENSE[] SEC("license") = "GPL";

extern int bpf_io_uring_submit_sqes(struct iou_ctx *ctx, __u32 nr) __ksym;
extern __u8 *bpf_io_uring_get_region(struct iou_ctx *ctx, __u32 region_id,
				     const __u64 rdwr_buf_size) __ksym;

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

const volatile struct kloop_cfg cfg;
struct kloop_stats stats;
/*
 * Loop state lives in map memory, not in registers: an open-coded
 * iterator converges only when the iterations' states are equivalent.
 */
struct {
	__u32	sq_tail;
	__u32	n;
	__u32	stop;
} st;

/* sizes must be constants for the verifier */
#define RINGS_BYTES	4096	/* io_rings header + 64 CQEs fit in one page */
#define SQ_BYTES	(KLOOP_SQ_ENTRIES * KLOOP_SQE_BYTES)

#define UBLK_IO_RES_OK		0
#define UBLK_IO_RES_ABORT	(-19)
#define IORING_OP_URING_CMD_	46
/* _IOWR('u', 0x21, struct ublksrv_io_cmd) */
#define UBLK_U_IO_COMMIT_AND_FETCH_REQ_	0xc0107521u

struct kloop_iod {
	__u32	op_flags;
	__u32	nr_sectors;
	__u64	start_sector;
	__u64	addr;
};

struct kloop_sqe {
	__u8	opcode, flags;
	__u16	ioprio;
	__s32	fd;
	__u32	cmd_op, pad1;
	__u64	addr;
	__u32	len, rw_flags;
	__u64	user_data;
	__u16	buf_index, personality;
	__u32	file_index;
	/* struct ublksrv_io_cmd at byte 48 */
	__u16	q_id, tag;
	__s32	result;
	__u64	io_addr;
};

static __always_inline __u32 rd32(__u8 *base, __u32 off)
{
	return *(volatile __u32 *)(base + off);
}

SEC("kloop/loop_step")
int BPF_PROG(loop_step, struct iou_ctx *ictx, struct iou_loop_params *lp)
{
	__u8 *rings, *sq;
	struct bpf_iter_num it;
	__u32 n;

	stats.steps++;
	rings = bpf_io_uring_get_region(ictx, 1 /* IOU_REGION_CQ */, RINGS_BYTES);
	sq = bpf_io_uring_get_region(ictx, 2 /* IOU_REGION_SQ */, SQ_BYTES);
	if (!rings || !sq) {
		stats.errors++;
		stats.stops++;
		return 1;	/* IOU_LOOP_STOP */
	}
	if (cfg.cq_head > RINGS_BYTES - 4 || cfg.cq_tail > RINGS_BYTES - 4 ||
	    cfg.sq_tail > RINGS_BYTES - 4 || cfg.cqes > RINGS_BYTES - 16 * KLOOP_CQ_ENTRIES)
		return 1;
	st.sq_tail = rd32(rings, cfg.sq_tail);
	st.n = 0;
	st.stop = 0;

	bpf_iter_num_new(&it, 0, KLOOP_CQ_ENTRIES);
	while (bpf_iter_num_next(&it)) {
		struct io_uring_cqe *cqe;
		struct kloop_iod iod;
		struct kloop_sqe *sqe;
		__u64 ud;
		__s32 res;
		__u32 tag, bytes, head;

		head = rd32(rings, cfg.cq_head);
		if (head == rd32(rings, cfg.cq_tail))
			break;
		cqe = (void *)(rings + cfg.cqes + (head & (KLOOP_CQ_ENTRIES - 1)) * 16);
		ud = cqe->user_data;
		res = cqe->res;
		/* consume it now: the kernel may reuse the slot once head moves */
		*(volatile __u32 *)(rings + cfg.cq_head) = head + 1;
		stats.cqes++;

		if (ud == KLOOP_STOP_UD) {
			st.stop = 1;
			continue;
		}
		if (res == UBLK_IO_RES_ABORT) {
			stats.aborted++;
			continue;
		}
		if (res != UBLK_IO_RES_OK || ud >= KLOOP_QD) {
			stats.errors++;
			continue;
		}
		tag = ud;
		if (bpf_copy_from_user(&iod, sizeof(iod),
				       (void *)(cfg.iod_va + tag * KLOOP_IOD_BYTES))) {
			stats.errors++;
			continue;
		}
		bytes = iod.nr_sectors << 9;
		switch (iod.op_flags & 0xff) {
		case 0: stats.reads++; stats.bytes += bytes; break;
		case 1: stats.writes++; stats.bytes += bytes; break;
		default: stats.others++; bytes = 0; break;
		}
		sqe = (void *)(sq + (st.sq_tail & (KLOOP_SQ_ENTRIES - 1)) * KLOOP_SQE_BYTES);
		__builtin_memset(sqe, 0, KLOOP_SQE_BYTES);
		sqe->opcode = IORING_OP_URING_CMD_;
		sqe->fd = cfg.ublkc_fd;
		sqe->cmd_op = UBLK_U_IO_COMMIT_AND_FETCH_REQ_;
		sqe->user_data = tag;
		sqe->q_id = 0;
		sqe->tag = tag;
		sqe->result = bytes;
		sqe->io_addr = cfg.buf_va + (__u64)tag * KLOOP_MAX_IO;
		st.sq_tail++;
		st.n++;
		stats.committed++;
	}
	bpf_iter_num_destroy(&it);
	/* publish the SQEs */
	n = st.n;
	if (n) {
		int ret;

		*(volatile __u32 *)(rings + cfg.sq_tail) = st.sq_tail;
		ret = bpf_io_uring_submit_sqes(ictx, n);
		if (ret < 0)
			stats.submit_err = ret;
		else
			stats.submitted += ret;
	}
	if (st.stop) {
		stats.stops++;
		return 1;	/* IOU_LOOP_STOP */
	}
	/* sleep until one CQE beyond what we have consumed */
	lp->cq_wait_idx = rd32(rings, cfg.cq_head) + 1;
	return 0;		/* IOU_LOOP_CONTINUE */
}
