/* SPDX-License-Identifier: MIT */
/*
 * bublk's scatter/gather hook for UBLK_F_SHMEM_ZC -- a bublk prototype, NOT
 * upstream UAPI.  Only the test kernel module in selftests/kmod/ implements
 * it.
 *
 * Upstream 7.1 marks a request UBLK_IO_F_SHMEM_ZC only when its pages lie
 * contiguously, in order, inside one registered buffer.  When they all lie
 * in registered buffers but not as one span, the module hands the pieces to
 * a BPF struct_ops program ("struct bublk_sg_ops"), which writes an iov
 * (struct ublk_shmem_sg_iov, see ublk_uapi.h) into the device's BPF arena
 * and tells the module where; the request is then marked UBLK_IO_F_SHMEM_SG
 * and iod->addr is that iov's address.
 *
 * This header is shared verbatim by the kernel module, the BPF program and
 * user space, so it uses only __u* types and no pointers in the data.
 */
#ifndef BUBLK_SG_HOOK_H
#define BUBLK_SG_HOOK_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* the module never passes more pieces than this (more -> plain fallback) */
#define BUBLK_SG_MAX_PIECES	16

/* one piece of a request's data: a byte range of a registered buffer */
struct bublk_sg_piece {
	__u32	buf_index;	/* index REG_BUF returned */
	__u32	len;		/* bytes */
	__u64	offset;		/* byte offset inside that buffer */
};

/*
 * The callback's context.  Read-only for the program except iov_addr.
 * Pieces are read with the kfunc
 *	int bpf_bublk_sg_piece(struct bublk_sg_ctx *ctx, __u32 i,
 *			       struct bublk_sg_piece *out);
 * which returns 0, or -EINVAL for i >= nr_pieces.
 */
struct bublk_sg_ctx {
	__u32	dev_id;
	__u16	q_id;
	__u16	tag;
	__u32	op;		/* UBLK_IO_OP_READ or UBLK_IO_OP_WRITE */
	__u32	nr_pieces;	/* 2 .. BUBLK_SG_MAX_PIECES */
	__u32	bytes;		/* the request's length */
	__u32	reserved;
	__u64	iov_addr;	/* out: user address of the iov written */
};

/*
 * The struct_ops type.  One program per device (dev_id), attached with a
 * struct_ops link.
 *
 * build() runs in the block layer's dispatch path (->queue_rq, under
 * rcu_read_lock): it MUST NOT sleep.  Sleepable programs are rejected at
 * load time.  So it cannot allocate arena pages either: it writes into
 * per-tag slots the loader allocated in advance.
 *
 * Return the number of iov entries written (> 0) with ctx->iov_addr set,
 * or <= 0 to refuse: the request then takes the normal copy path exactly
 * as upstream.
 */
struct bublk_sg_ops {
	int	(*build)(struct bublk_sg_ctx *ctx);
	__u32	dev_id;		/* the device this program serves */
};

/*
 * bublk's program for the hook (bpf/sg_hook.bpf.c) and its loader
 * (loader/sg_hook.c): the program's configuration, one entry of its
 * "sg_cfg" array map.  Slot s = q_id * depth + tag lives at
 * slots + s * slot_bytes in the device's arena and holds one
 * struct ublk_shmem_sg_iov of up to max_entries entries.
 */
struct bublk_sg_cfg {
	__u64	slots;		/* arena address of the first slot */
	__u32	slot_bytes;
	__u32	max_entries;
	__u32	nr_queues;
	__u32	depth;
	__u32	dev_id;
	__u32	pad;
	__u64	built;		/* iovs written (statistics) */
	__u64	refused;	/* requests refused (statistics) */
};

#endif /* BUBLK_SG_HOOK_H */
