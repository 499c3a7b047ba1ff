// SPDX-License-Identifier: MIT
/*
 * Zero copy: the request's own pages sit in the queue ring's fixed-buffer
 * table, and backend reads and writes are READ_FIXED / WRITE_FIXED on that
 * slot, addr being the byte offset inside the request. The data never
 * enters the daemon, and the daemon cannot touch it either.
 *
 * Two ways to get the pages there:
 * - UBLK_F_AUTO_BUF_REG (6.16+), "zero_copy": the driver registers them at
 *   the index the tag's FETCH or COMMIT_AND_FETCH named (index = tag)
 *   before it posts the request, and unregisters them when the tag's next
 *   COMMIT_AND_FETCH arrives on the same ring. Where the kernel also
 *   grants UBLK_F_SUPPORT_ZERO_COPY the commands ask for the FALLBACK
 *   flag: a request the driver could not register (table slot busy, no
 *   memory) arrives with UBLK_IO_F_NEED_REG_BUF instead of failing, and
 *   is registered by hand, below, at slot depth + tag.
 * - UBLK_F_SUPPORT_ZERO_COPY alone (6.15), "zero_copy_manual": the daemon
 *   registers every data request (REGISTER_IO_BUF, waited for before the
 *   first backend I/O: io_uring looks the slot up when it issues an SQE)
 *   and unregisters it when it commits (the driver completes the request
 *   once both the commit and the last user of the buffer are done, in
 *   either order).
 *
 * Either way:
 * - the kernel checks direction: a READ's buffer can only be read into,
 *   a WRITE's only written from (-EFAULT otherwise, which fails the
 *   segment and so the request, as any backend error does);
 * - ZERO_FILL cannot memset: it reads from /dev/zero into the buffer.
 * The commit goes out only after every segment completed, so no backend
 * I/O still uses the buffer when it is unregistered.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

/* the table slot of tag's buffer in this request's mode */
static unsigned int zc_index(const struct bublk_queue *q, int tag)
{
	return q->ios[tag].ops == &bublk_mode_zero_copy_fallback ? q->depth + tag : tag;
}

/*
 * A test hook (selftests/device/t_zero_copy_manual.sh): BUBLK_TEST_ZC_FALLBACK=1
 * in the daemon's environment names a slot the table does not have, so
 * the driver's registration fails for every request and each one takes
 * the fallback, as kublk's null target does with --auto_zc_fallback.
 */
bool bublk_zc_test_fallback(void)
{
	const char *v = getenv("BUBLK_TEST_ZC_FALLBACK");

	return v && !strcmp(v, "1");
}

/*
 * Empty slots (depth for the driver's registrations, depth more for
 * requests registered by hand where the driver may fall back); /dev/zero
 * for ZERO_FILL.
 */
static int zero_copy_setup(struct bublk_queue *q)
{
	bool fallback = bublk_zc_fallback(q->dev);
	int ret = io_uring_register_buffers_sparse(&q->ring, q->depth * (fallback ? 2 : 1));

	if (ret)
		return ret;
	q->zc_force_fallback = fallback && bublk_zc_test_fallback();
	q->mode_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	return q->mode_fd < 0 ? -errno : 0;
}

static void zero_copy_fetch_addr(struct io_uring_sqe *sqe, struct ublksrv_io_cmd *cmd,
				 const struct bublk_queue *q, int tag)
{
	struct ublk_auto_buf_reg r = { .index = tag };

	(void)cmd;	/* stays 0: the driver refuses a buffer address here */
	if (bublk_zc_fallback(q->dev)) {
		r.flags = UBLK_AUTO_BUF_REG_FALLBACK;
		if (q->zc_force_fallback)
			r.index = 0xffff;
	}
	sqe->addr = ublk_auto_buf_reg_sqe_addr(r);
}

static void zero_copy_prep_rw(struct io_uring_sqe *sqe, struct bublk_queue *q, int tag, int i,
			      int fd)
{
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	void *at = (void *)(uintptr_t)s->data_off;	/* an offset in the request, not an address */

	if (s->op == BUBLK_SEG_READ)
		io_uring_prep_read_fixed(sqe, fd, at, s->len, s->backend_off, zc_index(q, tag));
	else
		io_uring_prep_write_fixed(sqe, fd, at, s->len, s->backend_off, zc_index(q, tag));
}

static int zero_copy_zero_fill(struct bublk_queue *q, int tag, int i)
{
	const struct bublk_seg *s = &io_segs(q, tag)[i];
	struct io_uring_sqe *sqe = bublk_get_sqe(q);

	if (!sqe)
		return -EBUSY;
	/* mode_fd is a registered file only on a restricted ring */
	io_uring_prep_read_fixed(sqe, q->mode_fd, (void *)(uintptr_t)s->data_off, s->len, 0,
				 zc_index(q, tag));
	bublk_sqe_own_file(q, sqe, BUBLK_OWN_ZERO);
	sqe->user_data = ud_make_seg(tag, i, s->len);
	q->ios[tag].pending++;
	return 1;
}

/* REGISTER_IO_BUF / UNREGISTER_IO_BUF of tag's buffer on the ublk char device */
static struct io_uring_sqe *reg_cmd(struct bublk_queue *q, int tag, __u32 op)
{
	struct io_uring_sqe *sqe = bublk_ublk_sqe(q, op);
	struct ublksrv_io_cmd *cmd;

	if (!sqe)
		return NULL;
	cmd = (struct ublksrv_io_cmd *)sqe->cmd;
	cmd->q_id = q->q_id;
	cmd->tag = tag;
	cmd->addr = zc_index(q, tag);
	return sqe;
}

/* a request with data: register its pages, and run the stages once that is done */
static int by_hand_before_exec(struct bublk_queue *q, int tag)
{
	struct bublk_io *io = &q->ios[tag];
	struct io_uring_sqe *sqe;

	if ((io->op != BUBLK_OP_READ && io->op != BUBLK_OP_WRITE) || !io->len)
		return 0;
	sqe = reg_cmd(q, tag, UBLK_U_IO_REGISTER_IO_BUF);
	if (!sqe)
		return -EBUSY;
	sqe->user_data = ud_make(UD_DATA_IN, tag, 0);	/* its CQE's res is 0 */
	io->registered = true;
	q->stats->reg_buf_reqs++;
	return 1;
}

/* at the commit, whatever the result: the slot is needed again */
static void by_hand_release(struct bublk_queue *q, int tag)
{
	struct io_uring_sqe *sqe;

	if (!q->ios[tag].registered)
		return;
	q->ios[tag].registered = false;
	sqe = reg_cmd(q, tag, UBLK_U_IO_UNREGISTER_IO_BUF);
	if (!sqe)
		return;	/* the ring is stuck: the queue is going down anyway */
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe->user_data = ud_make(UD_UNREGISTER, tag, 0);
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

/* a request of a zero_copy queue that arrived with UBLK_IO_F_NEED_REG_BUF */
const struct bublk_data_ops bublk_mode_zero_copy_fallback = {
	.name		= "zero_copy_fallback",
	.buf_kind	= BUBLK_BUF_ZERO_COPY,
	.no_buffers	= true,
	.before_exec	= by_hand_before_exec,
	.release	= by_hand_release,
	.prep_rw	= zero_copy_prep_rw,
	.zero_fill	= zero_copy_zero_fill,
};

const struct bublk_data_ops bublk_mode_zero_copy_manual = {
	.name		= "zero_copy_manual",
	.ublk_flag	= UBLK_F_SUPPORT_ZERO_COPY,
	.buf_kind	= BUBLK_BUF_ZERO_COPY,
	.no_buffers	= true,
	.setup		= zero_copy_setup,
	.before_exec	= by_hand_before_exec,
	.release	= by_hand_release,
	.prep_rw	= zero_copy_prep_rw,
	.zero_fill	= zero_copy_zero_fill,
};
