/* SPDX-License-Identifier: MIT */
/*
 * bublk's kernel prototype: UAPI that upstream Linux does NOT have, only
 * the test ublk module in selftests/kmod/ (docs/kernel-prototype.md).
 * Kept apart from ublk_uapi.h, which holds upstream's interface only, and
 * never installed. Include it only where the scattered shared-memory path
 * (UBLK_IO_F_SHMEM_SG) is handled.
 */
#ifndef BUBLK_UBLK_PROTO_H
#define BUBLK_UBLK_PROTO_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/*
 * bublk prototype, NOT upstream: the request's data lies in registered
 * buffers but not as one span; iod->addr is the user address (in the
 * device's BPF arena) of a struct ublk_shmem_sg_iov describing it.  Set only
 * by the test module in selftests/kmod/ with a bublk_sg_ops program
 * attached (include/bublk/sg_hook.h).  Bit chosen far from upstream's.
 */
#define UBLK_IO_F_SHMEM_SG	(1U << 28)

/*
 * bublk prototype (UBLK_IO_F_SHMEM_SG): the iov at iod->addr.  Pieces are
 * in request order; their lengths add up to the request's bytes.
 */
struct ublk_shmem_sg_entry {
	__u32	buf_index;
	__u32	len;
	__u64	offset;
};

struct ublk_shmem_sg_iov {
	__u32	nr;		/* entries */
	__u32	bytes;		/* sum of the entries' len */
	__u64	reserved;
	struct ublk_shmem_sg_entry e[];
};

#endif /* BUBLK_UBLK_PROTO_H */
