/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bublk_shmem.h - declarations the patched ublk_drv.c needs before
 * bublk_shmem.c is #included (see patch.py).
 *
 * Debian 6.12's <uapi/linux/ublk_cmd.h> predates UBLK_F_SHMEM_ZC, so the
 * upstream 7.1 UAPI bits are defined here with their upstream values.
 */
#ifndef BUBLK_SHMEM_H
#define BUBLK_SHMEM_H

#include <linux/xarray.h>
#include "bublk_sg_hook.h"

#ifndef UBLK_F_SHMEM_ZC
#define UBLK_F_SHMEM_ZC		(1ULL << 19)
#define UBLK_IO_F_SHMEM_ZC	(1U << 19)
#define UBLK_CMD_REG_BUF	0x18
#define UBLK_CMD_UNREG_BUF	0x19
#define UBLK_U_CMD_REG_BUF	_IOWR('u', UBLK_CMD_REG_BUF, struct ublksrv_ctrl_cmd)
#define UBLK_U_CMD_UNREG_BUF	_IOWR('u', UBLK_CMD_UNREG_BUF, struct ublksrv_ctrl_cmd)
#define UBLK_SHMEM_BUF_READ_ONLY	(1U << 0)
#define UBLK_SHMEM_ZC_IDX_OFF	32

/* UBLK_U_CMD_REG_BUF payload (24 bytes) */
struct ublk_shmem_buf_reg {
	__u64	addr;
	__u64	len;
	__u32	flags;
	__u32	reserved;
};
#endif

/* bublk prototype flag, see include/bublk/ublk_proto.h */
#define UBLK_IO_F_SHMEM_SG	(1U << 28)

/* per-device registration state, embedded in struct ublk_device */
struct bublk_shm {
	struct xarray	bufs;		/* index -> struct bublk_shm_buf */
	struct xarray	pfns;		/* pfn -> xa_mk_value(BUBLK_SHM_VAL) */
	unsigned int	nr_bufs;	/* 0: dispatch skips the lookup */
};

struct ublk_device;
struct ublk_queue;
struct request;

static void bublk_shm_init(struct ublk_device *ub);
static void bublk_shm_release(struct ublk_device *ub);
static bool bublk_shm_req_is_zc(const struct ublk_queue *ubq,
				const struct request *req);
static int bublk_sg_register(void);

#endif /* BUBLK_SHMEM_H */
