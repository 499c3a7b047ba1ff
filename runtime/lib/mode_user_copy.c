// SPDX-License-Identifier: MIT
/*
 * User copy (UBLK_F_USER_COPY): FETCH carries no buffer; the data of
 * request (q_id, tag) is read and written at its own offset of
 * /dev/ublkcN, on the queue's ring like the backend I/O. A WRITE's data is
 * pulled into our buffer before its segments run, a READ's pushed to the
 * kernel after they all succeeded; in between it is copy mode.
 */
#include "queue.h"

/* where (q_id, tag)'s data lives on /dev/ublkcN in user-copy mode */
static __u64 user_copy_offset(int q_id, int tag)
{
	return UBLKSRV_IO_BUF_OFFSET + ((__u64)q_id << UBLK_QID_OFF) +
	       ((__u64)tag << UBLK_TAG_OFF);
}

/* move a request's data between our buffer and the kernel's request */
static int queue_user_copy(struct bublk_queue *q, int tag, bool to_kernel)
{
	struct io_uring_sqe *sqe = bublk_get_sqe(q);
	struct bublk_io *io = &q->ios[tag];

	if (!sqe)
		return -EBUSY;
	if (to_kernel)
		io_uring_prep_write(sqe, 0, io->buf, io->len, user_copy_offset(q->q_id, tag));
	else
		io_uring_prep_read(sqe, 0, io->buf, io->len, user_copy_offset(q->q_id, tag));
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = ud_make(to_kernel ? UD_DATA_OUT : UD_DATA_IN, tag, io->len);
	return 0;
}

/* a WRITE's data must be pulled from the kernel first */
static int user_copy_before_exec(struct bublk_queue *q, int tag)
{
	const struct bublk_io *io = &q->ios[tag];

	if (io->op != BUBLK_OP_WRITE || !io->len)
		return 0;
	return queue_user_copy(q, tag, false) ? -EIO : 1;
}

/* a READ's data goes to the kernel before the commit */
static bool user_copy_after_segs(struct bublk_queue *q, int tag)
{
	const struct bublk_io *io = &q->ios[tag];

	return io->op == BUBLK_OP_READ && io->len && !queue_user_copy(q, tag, true);
}

const struct bublk_data_ops bublk_mode_user_copy = {
	.name		= "user_copy",
	.ublk_flag	= UBLK_F_USER_COPY,
	.buf_kind	= BUBLK_BUF_USER_COPY,
	.before_exec	= user_copy_before_exec,
	.after_segs	= user_copy_after_segs,
	.prep_rw	= bublk_flat_prep_rw,
	.zero_fill	= bublk_flat_zero_fill,
};
