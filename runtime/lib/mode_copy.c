// SPDX-License-Identifier: MIT
/*
 * Copy mode: the kernel copies a request's data to and from a buffer of
 * ours per tag, whose address each FETCH and COMMIT_AND_FETCH carries.
 * Backend I/O moves the data straight to and from that buffer.
 *
 * The flat-buffer hooks serve every mode whose data is one buffer at
 * io->data: copy, user copy and a client's shared memory.
 */
#include <string.h>

#include "queue.h"

void bublk_flat_prep_rw(struct io_uring_sqe *sqe, struct bublk_queue *q, int tag, int i, int fd)
{
	const struct bublk_io *io = &q->ios[tag];
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	char *data = (char *)io->data + s->data_off;

	if (s->op == BUBLK_SEG_READ)
		io_uring_prep_read(sqe, fd, data, s->len, s->backend_off);
	else
		io_uring_prep_write(sqe, fd, data, s->len, s->backend_off);
}

int bublk_flat_zero_fill(struct bublk_queue *q, int tag, int i)
{
	const struct bublk_seg *s = &io_segs(q, tag)[i];

	memset((char *)q->ios[tag].data + s->data_off, 0, s->len);
	return 0;
}

static void copy_fetch_addr(struct io_uring_sqe *sqe, struct ublksrv_io_cmd *cmd,
			    const struct bublk_queue *q, int tag)
{
	(void)sqe;
	cmd->addr = (__u64)(uintptr_t)q->ios[tag].buf;
}

const struct bublk_data_ops bublk_mode_copy = {
	.name		= "copy",
	.ublk_flag	= 0,
	.buf_kind	= BUBLK_BUF_COPY,
	.fetch_addr	= copy_fetch_addr,
	.prep_rw	= bublk_flat_prep_rw,
	.zero_fill	= bublk_flat_zero_fill,
};
