/* SPDX-License-Identifier: MIT */
/* The ublk control plane: commands on /dev/ublk-control through an SQE128 io_uring. */
#ifndef BUBLK_CTRL_H
#define BUBLK_CTRL_H

#include <sched.h>
#include <stdbool.h>
#include <liburing.h>
#include <bublk/ublk_uapi.h>

struct bublk_ctrl {
	int		fd;
	struct io_uring	ring;
	bool		legacy;		/* use pre-6.4 (non ioctl-encoded) opcodes */
};

/* 0, or -ENODEV with a message when the kernel has no ublk driver */
int bublk_ctrl_open(struct bublk_ctrl *c);
void bublk_ctrl_close(struct bublk_ctrl *c);

/* one command: nr is the UBLK_CMD_* number; encoding is chosen here */
int bublk_ctrl_cmd(struct bublk_ctrl *c, unsigned int nr, __u32 dev_id, __u16 q_id,
		   void *buf, __u16 len, __u64 data0);

int bublk_ctrl_get_features(struct bublk_ctrl *c, __u64 *features);
int bublk_ctrl_add_dev(struct bublk_ctrl *c, struct ublksrv_ctrl_dev_info *info);
int bublk_ctrl_get_info(struct bublk_ctrl *c, __u32 dev_id, struct ublksrv_ctrl_dev_info *info);
int bublk_ctrl_set_params(struct bublk_ctrl *c, __u32 dev_id, struct ublk_params *p);
int bublk_ctrl_start_dev(struct bublk_ctrl *c, __u32 dev_id, int daemon_pid);
int bublk_ctrl_stop_dev(struct bublk_ctrl *c, __u32 dev_id);
int bublk_ctrl_del_dev(struct bublk_ctrl *c, __u32 dev_id);
/* DEL_DEV_ASYNC where the kernel has it, else DEL_DEV */
int bublk_ctrl_del_dev_any(struct bublk_ctrl *c, __u32 dev_id);
int bublk_ctrl_get_queue_affinity(struct bublk_ctrl *c, __u32 dev_id, int q_id, cpu_set_t *cpus);
int bublk_ctrl_reg_buf(struct bublk_ctrl *c, __u32 dev_id, void *addr, __u64 len, __u32 flags);
int bublk_ctrl_unreg_buf(struct bublk_ctrl *c, __u32 dev_id, __u32 index);

const char *bublk_ctrl_cmd_name(unsigned int nr);

/* UBLK_F_UPDATE_SIZE (6.14+): the disk's new capacity; the kernel checks no alignment */
int bublk_ctrl_update_size(struct bublk_ctrl *c, __u32 dev_id, __u64 sectors);
/*
 * UBLK_F_QUIESCE (6.16+): wait up to timeout_ms (0: forever) for every
 * queue to be idle, then complete each armed command with
 * UBLK_IO_RES_ABORT; the device is QUIESCED once /dev/ublkcN is closed.
 */
int bublk_ctrl_quiesce_dev(struct bublk_ctrl *c, __u32 dev_id, __u32 timeout_ms);
/* UBLK_F_SAFE_STOP_DEV (7.0+): STOP_DEV unless the disk is open (-EBUSY) */
int bublk_ctrl_try_stop_dev(struct bublk_ctrl *c, __u32 dev_id);

#endif
