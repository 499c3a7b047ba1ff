// SPDX-License-Identifier: MIT
/*
 * Zero copy (UBLK_F_AUTO_BUF_REG, 6.16+): the driver registers each
 * request's own pages in the queue ring's fixed-buffer table, at the index
 * the tag's FETCH or COMMIT_AND_FETCH named (index = tag here), before it
 * posts the request, and unregisters them when the tag's next
 * COMMIT_AND_FETCH arrives on the same ring. Backend reads and writes are
 * READ_FIXED / WRITE_FIXED on that index, addr being the byte offset inside
 * the request: the data never enters the daemon, and the daemon cannot
 * touch it either.
 *
 * Two consequences the rest of the path relies on:
 * - the kernel checks direction: a READ's buffer can only be read into,
 *   a WRITE's only written from (-EFAULT otherwise, which fails the
 *   segment and so the request, as any backend error does);
 * - ZERO_FILL cannot memset: it reads from /dev/zero into the buffer.
 * The commit goes out only after every segment completed, so no backend
 * I/O still uses the buffer when the driver unregisters it.
 */
#include <fcntl.h>
#include <unistd.h>

#include "queue.h"

/* a table of depth empty slots; /dev/zero for ZERO_FILL */
static int zero_copy_setup(struct bublk_queue *q)
{
	int ret = io_uring_register_buffers_sparse(&q->ring, q->depth);

	if (ret)
		return ret;
	q->mode_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	return q->mode_fd < 0 ? -errno : 0;
}

static void zero_copy_fetch_addr(struct io_uring_sqe *sqe, struct ublksrv_io_cmd *cmd,
				 const struct bublk_queue *q, int tag)
{
	(void)cmd;	/* stays 0: the driver refuses a buffer address here */
	(void)q;
	sqe->addr = ublk_auto_buf_reg_sqe_addr((struct ublk_auto_buf_reg){ .index = tag });
}

static void zero_copy_prep_rw(struct io_uring_sqe *sqe, struct bublk_queue *q, int tag, int i,
			      int fd)
{
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	void *at = (void *)(uintptr_t)s->data_off;	/* an offset in the request, not an address */

	if (s->op == BUBLK_SEG_READ)
		io_uring_prep_read_fixed(sqe, fd, at, s->len, s->backend_off, tag);
	else
		io_uring_prep_write_fixed(sqe, fd, at, s->len, s->backend_off, tag);
}

static int zero_copy_zero_fill(struct bublk_queue *q, int tag, int i)
{
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	struct io_uring_sqe *sqe = bublk_get_sqe(q);

	if (!sqe)
		return -EBUSY;
	/* mode_fd is not a registered file: no IOSQE_FIXED_FILE */
	io_uring_prep_read_fixed(sqe, q->mode_fd, (void *)(uintptr_t)s->data_off, s->len, 0, tag);
	sqe->user_data = ud_make_seg(tag, i, s->len);
	q->ios[tag].pending++;
	return 1;
}

const struct bublk_data_ops bublk_mode_zero_copy = {
	.name		= "zero_copy",
	.ublk_flag	= UBLK_F_AUTO_BUF_REG,
	.buf_kind	= BUBLK_BUF_ZERO_COPY,
	.no_buffers	= true,
	.setup		= zero_copy_setup,
	.fetch_addr	= zero_copy_fetch_addr,
	.prep_rw	= zero_copy_prep_rw,
	.zero_fill	= zero_copy_zero_fill,
};
