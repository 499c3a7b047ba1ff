// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "util.h"

#define UBLK_CONTROL "/dev/ublk-control"

int bublk_ctrl_open(struct bublk_ctrl *c)
{
	int ret;

	memset(c, 0, sizeof(*c));
	c->fd = open(UBLK_CONTROL, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	/* control commands carry an 80-byte payload: SQE128 */
	ret = io_uring_queue_init(4, &c->ring, IORING_SETUP_SQE128);
	if (ret) {
		close(c->fd);
		c->fd = -1;
		return ret;
	}
	return 0;
}

void bublk_ctrl_close(struct bublk_ctrl *c)
{
	if (c->fd < 0)
		return;
	io_uring_queue_exit(&c->ring);
	close(c->fd);
	c->fd = -1;
}

/* ioctl encoding of each command, indexed by UBLK_CMD_* number */
static unsigned int encoded_op(unsigned int nr)
{
	switch (nr) {
	case UBLK_CMD_GET_QUEUE_AFFINITY:	return UBLK_U_CMD_GET_QUEUE_AFFINITY;
	case UBLK_CMD_GET_DEV_INFO:		return UBLK_U_CMD_GET_DEV_INFO;
	case UBLK_CMD_ADD_DEV:			return UBLK_U_CMD_ADD_DEV;
	case UBLK_CMD_DEL_DEV:			return UBLK_U_CMD_DEL_DEV;
	case UBLK_CMD_START_DEV:		return UBLK_U_CMD_START_DEV;
	case UBLK_CMD_STOP_DEV:			return UBLK_U_CMD_STOP_DEV;
	case UBLK_CMD_SET_PARAMS:		return UBLK_U_CMD_SET_PARAMS;
	case UBLK_CMD_GET_PARAMS:		return UBLK_U_CMD_GET_PARAMS;
	case UBLK_CMD_START_USER_RECOVERY:	return UBLK_U_CMD_START_USER_RECOVERY;
	case UBLK_CMD_END_USER_RECOVERY:	return UBLK_U_CMD_END_USER_RECOVERY;
	case UBLK_CMD_GET_DEV_INFO2:		return UBLK_U_CMD_GET_DEV_INFO2;
	case UBLK_CMD_GET_FEATURES:		return UBLK_U_CMD_GET_FEATURES;
	case UBLK_CMD_DEL_DEV_ASYNC:		return UBLK_U_CMD_DEL_DEV_ASYNC;
	case UBLK_CMD_UPDATE_SIZE:		return UBLK_U_CMD_UPDATE_SIZE;
	case UBLK_CMD_QUIESCE_DEV:		return UBLK_U_CMD_QUIESCE_DEV;
	case UBLK_CMD_TRY_STOP_DEV:		return UBLK_U_CMD_TRY_STOP_DEV;
	case UBLK_CMD_REG_BUF:			return UBLK_U_CMD_REG_BUF;
	case UBLK_CMD_UNREG_BUF:		return UBLK_U_CMD_UNREG_BUF;
	}
	return 0;
}

const char *bublk_ctrl_cmd_name(unsigned int nr)
{
	static const char *const names[] = {
		[UBLK_CMD_GET_QUEUE_AFFINITY] = "GET_QUEUE_AFFINITY",
		[UBLK_CMD_GET_DEV_INFO] = "GET_DEV_INFO",
		[UBLK_CMD_ADD_DEV] = "ADD_DEV",
		[UBLK_CMD_DEL_DEV] = "DEL_DEV",
		[UBLK_CMD_START_DEV] = "START_DEV",
		[UBLK_CMD_STOP_DEV] = "STOP_DEV",
		[UBLK_CMD_SET_PARAMS] = "SET_PARAMS",
		[UBLK_CMD_GET_PARAMS] = "GET_PARAMS",
		[UBLK_CMD_START_USER_RECOVERY] = "START_USER_RECOVERY",
		[UBLK_CMD_END_USER_RECOVERY] = "END_USER_RECOVERY",
		[UBLK_CMD_GET_DEV_INFO2] = "GET_DEV_INFO2",
		[UBLK_CMD_GET_FEATURES] = "GET_FEATURES",
		[UBLK_CMD_DEL_DEV_ASYNC] = "DEL_DEV_ASYNC",
		[UBLK_CMD_UPDATE_SIZE] = "UPDATE_SIZE",
		[UBLK_CMD_QUIESCE_DEV] = "QUIESCE_DEV",
		[UBLK_CMD_TRY_STOP_DEV] = "TRY_STOP_DEV",
		[UBLK_CMD_REG_BUF] = "REG_BUF",
		[UBLK_CMD_UNREG_BUF] = "UNREG_BUF",
	};

	if (nr < ARRAY_SIZE(names) && names[nr])
		return names[nr];
	return "UNKNOWN_CMD";
}

int bublk_ctrl_cmd(struct bublk_ctrl *c, unsigned int nr, __u32 dev_id, __u16 q_id,
		   void *buf, __u16 len, __u64 data0)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct ublksrv_ctrl_cmd *cmd;
	int ret;

	/* commands from 0x13 on exist only ioctl-encoded */
	if (c->legacy && nr >= UBLK_CMD_GET_FEATURES)
		return -EOPNOTSUPP;
	sqe = io_uring_get_sqe(&c->ring);
	if (!sqe)
		return -EBUSY;
	memset(sqe, 0, 2 * sizeof(*sqe));	/* SQE128 */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = c->fd;
	sqe->cmd_op = c->legacy ? nr : encoded_op(nr);
	cmd = (struct ublksrv_ctrl_cmd *)sqe->cmd;
	cmd->dev_id = dev_id;
	cmd->queue_id = q_id;
	cmd->addr = (__u64)(uintptr_t)buf;
	cmd->len = len;
	cmd->data[0] = data0;
	ret = io_uring_submit(&c->ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	ret = io_uring_wait_cqe(&c->ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	return ret;
}

int bublk_ctrl_get_features(struct bublk_ctrl *c, __u64 *features)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_GET_FEATURES, (__u32)-1, (__u16)-1,
			      features, sizeof(*features), 0);
}

int bublk_ctrl_add_dev(struct bublk_ctrl *c, struct ublksrv_ctrl_dev_info *info)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_ADD_DEV, info->dev_id, (__u16)-1,
			      info, sizeof(*info), 0);
}

int bublk_ctrl_get_info(struct bublk_ctrl *c, __u32 dev_id, struct ublksrv_ctrl_dev_info *info)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_GET_DEV_INFO, dev_id, (__u16)-1, info, sizeof(*info), 0);
}

int bublk_ctrl_set_params(struct bublk_ctrl *c, __u32 dev_id, struct ublk_params *p)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_SET_PARAMS, dev_id, (__u16)-1, p, p->len, 0);
}

int bublk_ctrl_start_dev(struct bublk_ctrl *c, __u32 dev_id, int daemon_pid)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_START_DEV, dev_id, (__u16)-1, NULL, 0, daemon_pid);
}

int bublk_ctrl_stop_dev(struct bublk_ctrl *c, __u32 dev_id)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_STOP_DEV, dev_id, (__u16)-1, NULL, 0, 0);
}

/*
 * DEL_DEV waits until the last opener of the device is gone; DEL_DEV_ASYNC
 * (6.10+, ioctl-encoded only) removes it and returns, the kernel freeing it
 * when the last reference drops. Use it where the kernel has it.
 */
int bublk_ctrl_del_dev_any(struct bublk_ctrl *c, __u32 dev_id)
{
	int ret = bublk_ctrl_cmd(c, UBLK_CMD_DEL_DEV_ASYNC, dev_id, (__u16)-1, NULL, 0, 0);

	if (ret == -EOPNOTSUPP || ret == -EINVAL || ret == -ENOTTY)
		ret = bublk_ctrl_del_dev(c, dev_id);
	return ret;
}

int bublk_ctrl_del_dev(struct bublk_ctrl *c, __u32 dev_id)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_DEL_DEV, dev_id, (__u16)-1, NULL, 0, 0);
}

int bublk_ctrl_get_queue_affinity(struct bublk_ctrl *c, __u32 dev_id, int q_id, cpu_set_t *cpus)
{
	CPU_ZERO(cpus);
	/* the queue goes in data[0]; the kernel copies a cpumask to addr */
	return bublk_ctrl_cmd(c, UBLK_CMD_GET_QUEUE_AFFINITY, dev_id, (__u16)-1,
			      cpus, sizeof(*cpus), q_id);
}

/* UBLK_F_SHMEM_ZC: long-term pin [addr, addr + len); returns the index */
int bublk_ctrl_reg_buf(struct bublk_ctrl *c, __u32 dev_id, void *addr, __u64 len, __u32 flags)
{
	struct ublk_shmem_buf_reg reg = {
		.addr = (__u64)(uintptr_t)addr,
		.len = len,
		.flags = flags,
	};

	return bublk_ctrl_cmd(c, UBLK_CMD_REG_BUF, dev_id, (__u16)-1, &reg, sizeof(reg), 0);
}

int bublk_ctrl_unreg_buf(struct bublk_ctrl *c, __u32 dev_id, __u32 index)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_UNREG_BUF, dev_id, (__u16)-1, NULL, 0, index);
}

int bublk_ctrl_update_size(struct bublk_ctrl *c, __u32 dev_id, __u64 sectors)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_UPDATE_SIZE, dev_id, (__u16)-1, NULL, 0, sectors);
}

int bublk_ctrl_quiesce_dev(struct bublk_ctrl *c, __u32 dev_id, __u32 timeout_ms)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_QUIESCE_DEV, dev_id, (__u16)-1, NULL, 0, timeout_ms);
}

int bublk_ctrl_try_stop_dev(struct bublk_ctrl *c, __u32 dev_id)
{
	return bublk_ctrl_cmd(c, UBLK_CMD_TRY_STOP_DEV, dev_id, (__u16)-1, NULL, 0, 0);
}
